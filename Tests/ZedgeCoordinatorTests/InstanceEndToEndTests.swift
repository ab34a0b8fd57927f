import Foundation
import Logging
import SQLKit
import Testing
import ZedgeAgent
import ZedgeCore
@testable import ZedgeCoordinator

/// An instance's whole life through the API with a real `zedge-agent` process on libvirt's test driver: the
/// domain's state is checked in what the agent's heartbeats report, not in what the coordinator believes.
@Suite("Instances end to end")
struct InstanceEndToEndTests {
    typealias AgentProcess = AgentEndToEndTests.AgentProcess

    @Test func lifecycleOnARealAgentAndAFailedCreate() async throws {
        try await TestCoordinator.with(.sqlite, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.reconcileIntervalSeconds = 1
            // The agent reports this machine's real readings; a test run saturates it, which must not make it
            // CRITICAL (and unplaceable) here.
            let never = HealthThresholds.Limits(cpuPercent: 101, memoryPercent: 101, diskPercent: 101, temperature: 1000)
            $0.healthThresholds = HealthThresholds(warning: never, critical: never)
        }) { c in
            let admin = try await c.adminToken()
            let center = try await c.client.post("/api/v1/edge-data-centers", token: admin, ["name": "inst-e2e-dc"]).decode(EdgeDataCenter.self)
            let pool = try await c.client.post("/api/v1/resource-pools", token: admin, [
                "name": "inst-e2e-pool", "edgeDataCenterId": center.id.uuidString,
            ]).decode(ResourcePool.self)
            let enrollment = try await c.client.post("/api/v1/enrollment-tokens", token: admin, [
                "edgeDataCenterId": center.id.uuidString, "resourcePoolId": pool.id.uuidString, "kind": "COMPUTE_MACHINE",
            ])
            let token = try #require(try enrollment.json()["token"] as? String, "\(enrollment.text)")
            let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-inst-e2e-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: stateDir) }

            let registered = try await ProcessRunner.run("zedge-agent", [
                "register", "--coordinator", c.baseURL, "--token", token, "--ca-hash", try #require(c.started.caFingerprint),
                "--state-dir", stateDir, "--management-ip", "198.51.100.21", "--hostname", "inst-e2e-host",
            ])
            #expect(registered.status == 0, "\(registered.stderr)")
            var agent = try AgentProcess(stateDir: stateDir)
            defer { agent.stop() }
            let machine = try #require(try await c.client.get("/api/v1/compute-machines", token: admin).decode(Page<ComputeMachine>.self)
                .items.first { $0.hostname == "inst-e2e-host" })
            #expect(machine.resourcePoolId == pool.id)
            try await eventually("the agent heartbeats") { try await observed(c, admin, machine.id).reportedAt != nil }
            try await eventually("the heartbeat is stored (placement needs it fresh)", within: 120) {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }

            let tenant = try await c.createTenant("inst-e2e-tenant", token: admin)
            let user = try await c.createUser("inst-e2e-user", role: .user, tenant: tenant.id, token: admin)
            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "inst-e2e-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
            ])
            #expect(template.status == 201, "\(template.text)")
            let templateId = try template.decode(Template.self).id

            /// An instance create, retried while placement finds no room: on a saturated test machine the agent's
            /// heartbeats can come late for a while, which placement rightly refuses. Room itself is never short.
            func create(_ name: String) async throws -> APIResponse {
                var refusal = "none: the machine stayed CRITICAL"
                let deadline = ContinuousClock.now + .seconds(300)
                while ContinuousClock.now < deadline {
                    let health = try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).healthStatus
                    if health != .critical {
                        let attempt = try await c.client.post("/api/v1/instances", token: user.token, ["name": name, "templateId": templateId.uuidString])
                        guard attempt.status == 409, attempt.text.contains("No capacity") else { return attempt }
                        refusal = attempt.text
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
                throw TestFailure("\(name) was not placed within 300 s; last refusal: \(refusal)")
            }

            // Create: the instance runs, and the agent's libvirt has the domain running.
            let created = try await create("web")
            #expect(created.status == 202, "\(created.text)")
            let accepted = try created.decode(InstanceService.Accepted.self)
            let id = accepted.instance.instance.id
            #expect(accepted.instance.instance.computeMachineId == machine.id)
            let vm = try await virtualMachine(of: id, c)
            #expect(vm.name.hasPrefix("zedge-") && vm.name.hasSuffix("-web"))
            func instance() async throws -> Instance {
                try await c.client.get("/api/v1/instances/\(id)", token: user.token).decode(InstanceView.self).instance
            }
            func domain() async throws -> ObservedVm? {
                try await observed(c, admin, machine.id).items.first { $0.vmUuid.caseInsensitiveCompare(vm.uuid) == .orderedSame }
            }
            /// The instance is `status`, the host reports its domain `state`, and nothing is under way for it.
            func settled(_ status: InstanceStatus, _ state: DomainState, _ what: String) async throws {
                try await eventually(what, within: 60) {
                    let current = try await instance().status
                    let reported = try await domain()?.state
                    return current == status && reported == state
                }
            }
            try await settled(.running, .running, "created: RUNNING, and the domain reported running")
            let createOperation = try await c.client.get("/api/v1/operations/\(accepted.operation.id)", token: user.token)
                .decode(ZedgeCore.Operation.self)
            #expect(createOperation.status == .succeeded && createOperation.progress == 100, "\(createOperation)")
            #expect(try await domain()?.vmName == vm.name)
            let running = try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self)
            #expect(running.allocatedCpuCores == 1 && running.allocatedMemoryGb == 1 && running.allocatedStorageGb == 1)

            // stop, start, restart: each one's operation succeeds and the host reports the domain accordingly.
            for (action, status, state) in [("stop", InstanceStatus.stopped, DomainState.shutOff),
                                            ("start", .running, .running), ("restart", .running, .running)] {
                let response = try await c.client.post("/api/v1/instances/\(id)/actions/\(action)", token: user.token, [:])
                #expect(response.status == 202, "\(action): \(response.text)")
                let operationId = try response.decode(InstanceService.Accepted.self).operation.id
                try await eventually("\(action) operation finishes", within: 60) {
                    try await c.client.get("/api/v1/operations/\(operationId)", token: user.token).decode(ZedgeCore.Operation.self).status.isTerminal
                }
                let operation = try await c.client.get("/api/v1/operations/\(operationId)", token: user.token).decode(ZedgeCore.Operation.self)
                #expect(operation.status == .succeeded, "\(action): \(operation)")
                try await settled(status, state, "\(action): \(status.rawValue), and the domain reported \(state.rawValue)")
            }

            // Delete: DELETED, the domain gone from the host; a second delete is accepted and changes nothing.
            let deleted = try await c.client.delete("/api/v1/instances/\(id)", token: user.token)
            #expect(deleted.status == 202, "\(deleted.text)")
            let deleteOperation = try deleted.decode(InstanceService.Accepted.self).operation.id
            try await eventually("deleted: DELETED, and the domain no longer reported", within: 60) {
                let status = try await instance().status
                let present = try await domain() != nil
                return status == .deleted && !present
            }
            let again = try await c.client.delete("/api/v1/instances/\(id)", token: user.token)
            #expect(again.status == 202, "\(again.text)")
            let repeated = try again.decode(InstanceService.Accepted.self)
            #expect(repeated.operation.id == deleteOperation, "a second delete answers with the first one's operation")
            #expect(repeated.instance.instance.status == .deleted)
            let freed = try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self)
            #expect(freed.allocatedCpuCores == 0 && freed.allocatedMemoryGb == 0 && freed.allocatedStorageGb == 0)
            // A couple of heartbeats and reconcile passes later nothing has come back.
            let seen = try #require(try await observed(c, admin, machine.id).reportedAt)
            try await eventually("two more heartbeats", within: 60) {
                (try await observed(c, admin, machine.id).reportedAt ?? seen).timeIntervalSince(seen) >= 2
            }
            #expect(try await domain() == nil)
            #expect(try await instance().status == .deleted)
            let report = try await c.client.get("/api/v1/admin/consistency", token: admin).decode(ConsistencyReport.self)
            #expect(report.ok, "\(report.violations)")

            // An agent whose vm.create fails for real (ZEDGE_AGENT_FAULT=fail-vm-create: the test driver refuses
            // nothing): the instance ends in ERROR, and its claim is released.
            agent.stop()
            #expect(try await agent.waitForExit() == 0)
            let before = try #require(try await observed(c, admin, machine.id).reportedAt)
            agent = try AgentProcess(stateDir: stateDir, environment: [FaultInjection.variable: FaultInjection.Failure.vmCreate.rawValue])
            try await eventually("the restarted agent heartbeats") {
                (try await observed(c, admin, machine.id).reportedAt ?? before) > before
            }
            let doomed = try await create("doomed")
            #expect(doomed.status == 202, "\(doomed.text)")
            let doomedAccepted = try doomed.decode(InstanceService.Accepted.self)
            let doomedId = doomedAccepted.instance.instance.id
            #expect(doomedAccepted.instance.instance.computeMachineId == machine.id, "placed (and claimed) before the agent failed it")
            let doomedVm = try await virtualMachine(of: doomedId, c)
            try await eventually("the failed create puts the instance in ERROR", within: 180) {
                try await c.client.get("/api/v1/instances/\(doomedId)", token: user.token).decode(InstanceView.self).instance.status == .error
            }
            let failedOperation = try await c.client.get("/api/v1/operations/\(doomedAccepted.operation.id)", token: user.token)
                .decode(ZedgeCore.Operation.self)
            #expect(failedOperation.status == .failed, "\(failedOperation)")
            #expect(failedOperation.error?.contains("injected fault") == true, "\(failedOperation)")
            let failed = try await c.client.get("/api/v1/instances/\(doomedId)", token: user.token).decode(InstanceView.self).instance
            #expect(failed.computeMachineId == nil)
            let released = try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self)
            #expect(released.allocatedCpuCores == 0 && released.allocatedMemoryGb == 0 && released.allocatedStorageGb == 0
                && released.allocatedGpuCount == 0)
            let releasedPool = try await c.client.get("/api/v1/resource-pools/\(pool.id)", token: admin).decode(ResourcePool.self)
            #expect(releasedPool.allocatedCpuCores == 0 && releasedPool.allocatedMemoryGb == 0)
            #expect(try await !observed(c, admin, machine.id).items.contains { $0.vmUuid.caseInsensitiveCompare(doomedVm.uuid) == .orderedSame })
            let finalReport = try await c.client.get("/api/v1/admin/consistency", token: admin).decode(ConsistencyReport.self)
            #expect(finalReport.ok, "\(finalReport.violations)")

            agent.stop()
            #expect(try await agent.waitForExit() == 0)
        }
    }

    /// The input (#12): SIGTERM to the agent of a RUNNING instance, a stop one second later (202), the agent
    /// back three seconds after that, without the domain (the test driver keeps domains in the agent's memory). The
    /// stop is not lost to the long-poll the departed agent left open, nor held for the lease: the new run gets it at
    /// once, and it reaches STOPPED (the absence is what was asked). A start then rebuilds the domain from the
    /// instance's snapshot and it runs.
    @Test func aStopSentWhileTheAgentIsGoneReachesStoppedAndAStartRebuildsTheLostDomain() async throws {
        try await TestCoordinator.with(.sqlite, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.reconcileIntervalSeconds = 86_400  // the task path alone, not the reconciler, must get there
            $0.taskLeaseSeconds = 600             // far longer than the test waits
            $0.taskDeliverySeconds = 600
            let never = HealthThresholds.Limits(cpuPercent: 101, memoryPercent: 101, diskPercent: 101, temperature: 1000)
            $0.healthThresholds = HealthThresholds(warning: never, critical: never)
        }) { c in
            let admin = try await c.adminToken()
            let (machine, stateDir) = try await BootEndToEndTests.registerHost(c, admin, name: "gone")
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            var agent = try AgentProcess(stateDir: stateDir)
            defer { agent.stop() }
            try await eventually("the heartbeat is stored (placement needs it fresh)", within: 120) {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }
            let tenant = try await c.createTenant("gone-tenant", token: admin)
            let user = try await c.createUser("gone-user", role: .user, tenant: tenant.id, token: admin)
            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "gone-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
            ]).decode(Template.self)
            let created = try await c.client.post("/api/v1/instances", token: user.token, ["name": "web", "templateId": template.id.uuidString])
            #expect(created.status == 202, "\(created.text)")
            let id = try created.decode(InstanceService.Accepted.self).instance.instance.id
            let vm = try await virtualMachine(of: id, c)
            func instance() async throws -> Instance {
                try await c.client.get("/api/v1/instances/\(id)", token: user.token).decode(InstanceView.self).instance
            }
            func domain() async throws -> ObservedVm? {
                try await observed(c, admin, machine.id).items.first { $0.vmUuid.caseInsensitiveCompare(vm.uuid) == .orderedSame }
            }
            try await eventually("RUNNING", within: 120) { try await instance().status == .running }

            agent.stop()
            #expect(try await agent.waitForExit() == 0)
            try await Task.sleep(for: .seconds(1))
            let stop = try await c.client.post("/api/v1/instances/\(id)/actions/stop", token: user.token, [:])
            #expect(stop.status == 202, "\(stop.text)")
            let stopOperation = try stop.decode(InstanceService.Accepted.self).operation.id
            try await Task.sleep(for: .seconds(3))
            agent = try AgentProcess(stateDir: stateDir)
            let stopped = try await c.finishedOperation(stopOperation, token: admin, within: 90)
            #expect(stopped.status == .succeeded, "\(stopped)")
            let afterStop = try await instance()
            #expect(afterStop.status == .stopped && afterStop.desiredStatus == .stopped, "\(afterStop.status)")
            // The new agent's heartbeats (the first may come after the stop's result) never list the domain.
            try await eventually("the new agent reports no such domain", within: 60) { try await domain() == nil }

            let start = try await c.client.post("/api/v1/instances/\(id)/actions/start", token: user.token, [:])
            #expect(start.status == 202, "\(start.text)")
            try await eventually("rebuilt: RUNNING, and the domain reported running", within: 90) {
                let current = try await instance()
                let state = try await domain()?.state
                return current.status == .running && state == .running
            }
            let report = try await c.client.get("/api/v1/admin/consistency", token: admin).decode(ConsistencyReport.self)
            #expect(report.ok, "\(report.violations)")
        }
    }

    /// What the machine's agent last reported.
    struct Observed: Decodable {
        var reportedAt: Date?
        var items: [ObservedVm]
    }

    func observed(_ c: TestCoordinator, _ admin: String, _ machineId: UUID) async throws -> Observed {
        try await c.client.get("/api/v1/compute-machines/\(machineId)/observed-vms", token: admin).decode(Observed.self)
    }

    /// The domain UUID and name the coordinator recorded for the instance's VM.
    func virtualMachine(of instanceId: UUID, _ c: TestCoordinator) async throws -> (uuid: String, name: String) {
        let admin = try await c.adminToken()
        let page = try await c.client.get("/api/v1/virtual-machines?instanceId=\(instanceId)", token: admin).decode(Page<VirtualMachine>.self)
        guard let vm = page.items.first, let uuid = vm.vmUuid else { throw TestFailure("no VM for instance \(instanceId)") }
        return (uuid, vm.vmName)
    }
}

extension AgentEndToEndTests.AgentProcess {
    /// Asks the agent to stop (SIGTERM) if it still runs.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }
}
