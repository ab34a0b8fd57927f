import Foundation
import Testing
import ZedgeCore
@testable import ZedgeAgent

/// Issue #12, fault 4, on the agent's side: a payload that fails its kind's check is FAILED with the reason
/// before anything is done (here on libvirt's `test:///default` driver, where a domain is really defined).
@Suite struct TaskPayloadRefusalTests {
    /// A running domain of its own, and an executor on the test driver.
    func runningDomain(_ label: String) async throws -> (executor: TaskExecutor, hypervisor: LibvirtHypervisor, spec: VmSpec) {
        let hypervisor = LibvirtHypervisor(uri: "test:///default")
        let executor = TaskExecutor(hypervisor: hypervisor)
        let spec = minimalVmSpec(name: "refusal-\(label)-\(UUID().uuidString.prefix(8).lowercased())")
        let created = await executor.execute(.vmCreate, payload: try JSONValue(encoding: VmCreatePayload(spec: spec, start: true)))
        try #require(created.outcome == .succeeded, "\(created.error ?? "")")
        return (executor, hypervisor, spec)
    }

    @Test func aVmStopWithATimeoutOutOfRangeFailsAndLeavesTheDomainRunning() async throws {
        let (executor, hypervisor, spec) = try await runningDomain("stop")
        for timeout in [4_611_686_018_427_387_904, 3601, -5] {
            let payload: JSONValue = ["vmUuid": .string(spec.uuid.uuidString), "vmName": .string(spec.name), "timeoutS": .number(Double(timeout))]
            let report = await executor.execute(.vmStop, payload: payload)
            #expect(report.outcome == .failed)
            #expect(report.error?.hasPrefix("invalid payload: timeoutS ") == true, "\(timeout): \(report.error ?? "")")
            #expect(try await hypervisor.state(uuid: spec.uuid)?.state == .running, "never stopped")
        }
        // In range, it is carried out.
        let stopped = await executor.execute(.vmStop, payload: try JSONValue(encoding: VmStopPayload(vmUuid: spec.uuid, vmName: spec.name, timeoutS: 0)))
        #expect(stopped.outcome == .succeeded, "\(stopped.error ?? "")")
        #expect(try await hypervisor.state(uuid: spec.uuid)?.state == .shutOff)
        try await hypervisor.delete(uuid: spec.uuid)
    }

    @Test func everyVmKindChecksItsPayloadBeforeActing() async throws {
        let (executor, hypervisor, spec) = try await runningDomain("kinds")
        let uuid = JSONValue.string(spec.uuid.uuidString)
        let cases: [(TaskKind, JSONValue, String)] = [
            (.vmDelete, ["vmUuid": uuid, "vmName": ""], "vmName"),
            (.vmRestart, ["vmUuid": uuid, "vmName": "a/b"], "vmName"),
            (.vmStop, ["vmUuid": uuid, "vmName": .string(spec.name), "timeoutS": "soon"], "timeoutS"),
            (.vmStart, ["vmUuid": "not-a-uuid", "vmName": .string(spec.name)], "vmUuid"),
            (.vmCreate, try JSONValue(encoding: VmCreatePayload(spec: VmSpec(
                name: spec.name, uuid: spec.uuid, vcpus: 0, memoryMiB: 128, rootDisk: spec.rootDisk))), "spec.vcpus"),
        ]
        for (kind, payload, field) in cases {
            let report = await executor.execute(kind, payload: payload)
            #expect(report.outcome == .failed)
            #expect(report.error?.hasPrefix("invalid payload: \(field) ") == true, "\(kind.rawValue): \(report.error ?? "")")
        }
        // Not deleted, not restarted into another state, not redefined: the domain is as it was.
        let state = try await hypervisor.state(uuid: spec.uuid)
        #expect(state?.state == .running && state?.vmName == spec.name)
        try await hypervisor.delete(uuid: spec.uuid)
    }

    @Test func anUnsupportedKindStillSaysSoFirst() async throws {
        // An agent without the backend answers that, whatever the payload.
        let report = await TaskExecutor(hypervisor: nil).execute(.vmStop, payload: ["timeoutS": -5])
        #expect(report.error == "vm.stop is not supported by this agent version")
    }
}
