import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #12, fault 4: every task payload is checked before it is queued. An operator's direct task with a bad
/// field is a 400 naming `payload.<field>` and queues nothing; a service whose payload would be out of range
/// changes nothing.
@Suite struct TaskPayloadValidationTests {
    static var cluster: [String: Any] {
        ["storagePoolId": UUID().uuidString, "monitors": ["10.0.0.1:6789"], "rbdPool": "private-data-disks", "cephUser": "zedge"]
    }
    static let vmUuid = UUID().uuidString

    /// One bad payload per kind and the field the 400 must name (under `payload.`).
    static var badPayloads: [TaskKind: (payload: [String: Any], field: String)] { [
        .vmCreate: (["spec": ["name": "vm-1", "uuid": vmUuid, "vcpus": 0, "memoryMiB": 128,
                              "rootDisk": ["source": ["type": "file", "path": "/var/lib/zedge/vm-1.qcow2"], "target": "vda"]]], "spec.vcpus"),
        .vmStart: (["vmUuid": vmUuid, "vmName": ""], "vmName"),
        .vmStop: (["vmUuid": vmUuid, "vmName": "vm-1", "timeoutS": 3601], "timeoutS"),
        .vmRestart: (["vmUuid": vmUuid, "vmName": "a/b"], "vmName"),
        .vmDelete: (["vmUuid": "not-a-uuid", "vmName": "vm-1"], "vmUuid"),
        .diskCreate: (["cluster": cluster, "image": "pdd-1", "sizeGb": 0], "sizeGb"),
        .diskResize: (["cluster": cluster, "image": "pdd 1", "sizeGb": 2], "image"),
        .diskDelete: (["cluster": cluster.merging(["monitors": [String]()]) { $1 }, "image": "pdd-1"], "cluster.monitors"),
        .diskAttach: (["cluster": cluster, "image": "pdd-1", "vmUuid": vmUuid, "serial": String(repeating: "s", count: 21),
                       "readOnly": false, "shareable": false], "serial"),
        .diskDetach: (["cluster": cluster.merging(["cephUser": "client.zedge"]) { $1 }, "image": "pdd-1", "vmUuid": vmUuid], "cluster.cephUser"),
        .imageFetch: (["image": ["imageId": UUID().uuidString, "versionId": UUID().uuidString, "sha256": "abc", "sizeBytes": 1024,
                                 "virtualSizeBytes": 1024, "format": "qcow2"]], "image.sha256"),
        .cloudboxConfigureNetwork: (["networkMode": "STATIC", "subnetMask": "255.255.255.0", "gateway": "10.0.0.1"], "ipAddress"),
        .cloudboxBind: (["instanceId": vmUuid, "instanceName": "vm-1", "console": ["kind": "vnc", "websocketPath": "/etc/passwd"],
                         "ticket": "t", "expiresAt": "2030-01-01T00:00:00Z"], "console.websocketPath"),
        .cloudboxUnbind: (["reason": "bell\u{07}"], "reason"),
        .cloudboxReboot: (["reason": String(repeating: "r", count: 300)], "reason"),
    ] }

    /// Fails when a task kind is added without a bad payload above (and so without a check that its payload
    /// is validated at the API).
    @Test func everyTaskKindHasABadPayloadCase() {
        let missing = TaskKind.allCases.filter { Self.badPayloads[$0] == nil }
        #expect(missing.isEmpty, "no bad-payload case for \(missing.map(\.rawValue))")
    }

    @Test(arguments: TestEngine.all)
    func aDirectTaskWithABadFieldIsA400NamingItAndQueuesNothing(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await AgentProtocolTests.Fixture.make(c)
            let agent = try await f.register(try await f.token()).decode(RegisterResponse.self)
            let machine = try #require(agent.machineId)
            for kind in TaskKind.allCases {
                let (payload, field) = try #require(Self.badPayloads[kind])
                let response = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin,
                                                       ["kind": kind.rawValue, "payload": payload])
                #expect(response.status == 422, "\(kind.rawValue): \(response.status) \(response.text)")
                let expected = kind.isCloudBoxKind ? ["kind", "payload.\(field)"] : ["payload.\(field)"]
                #expect(response.problemFields == expected, "\(kind.rawValue): \(response.text)")
            }
            // The inputs: vm.stop with a timeout of 2^62 s, an hour and a second, and -5 s.
            for timeout in [4_611_686_018_427_387_904, 3601, -5] {
                let response = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                    "kind": "vm.stop", "payload": ["vmUuid": Self.vmUuid, "vmName": "vm-1", "timeoutS": timeout],
                ])
                #expect(response.status == 422 && response.problemFields == ["payload.timeoutS"], "\(timeout): \(response.text)")
            }
            // A member the payload type does not have (a typo that would leave the default) and a missing one.
            let typo = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                "kind": "vm.stop", "payload": ["vmUuid": Self.vmUuid, "vmName": "vm-1", "timeout": 5],
            ])
            #expect(typo.status == 422 && typo.problemFields == ["payload.timeout"], "\(typo.text)")
            let missing = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, ["kind": "vm.start"])
            #expect(missing.status == 422 && missing.problemFields == ["payload.vmUuid"], "\(missing.text)")
            // Nothing was queued: the agent's poll (which leases whatever is queued) is empty.
            let polled = try await c.client.get("/agent/v1/tasks?wait=0", token: agent.credential).decode(TaskPollResponse.self)
            #expect(polled.tasks.isEmpty)

            // The edges of the range are fine, and reach the agent as sent.
            for timeout in [0, 3600] {
                let response = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                    "kind": "vm.stop", "payload": ["vmUuid": Self.vmUuid, "vmName": "vm-1", "timeoutS": timeout],
                ])
                #expect(response.status == 202, "\(timeout): \(response.text)")
            }
            let leased = try await c.client.get("/agent/v1/tasks?wait=0", token: agent.credential).decode(TaskPollResponse.self).tasks
            #expect(try leased.map { try $0.payload.decode(as: VmStopPayload.self).timeoutS } == [0, 3600])
        }
    }

    /// A payload a service builds goes through the same check: an instance stop whose configured timeout is out
    /// of range is a 400 naming `payload.timeoutS`, and the instance, its operations and the queue are unchanged.
    @Test(arguments: TestEngine.all)
    func aServiceBuiltPayloadOutOfRangeChangesNothing(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            InstanceFixture.patient(&$0)
            $0.instanceStopTimeoutSeconds = 7200
        }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.12.0.1", cpu: 8, memory: 32)
            let created = try await f.create("web")
            #expect(created.status == 202, "\(created.text)")
            let id = try created.decode(InstanceService.Accepted.self).instance.instance.id
            let tasks = try await f.lease(host.credential)
            try await f.finish(tasks[0], credential: host.credential, state: .running)
            let before = try await f.instance(id).instance
            #expect(before.status == .running)

            let stop = try await c.client.post("/api/v1/instances/\(id)/actions/stop", token: f.user.token, [:])
            #expect(stop.status == 422 && stop.problemFields == ["payload.timeoutS"], "\(stop.text)")
            let after = try await f.instance(id).instance
            #expect(after.status == .running && after.desiredStatus == before.desiredStatus && after.updatedAt == before.updatedAt)
            #expect(try await f.lease(host.credential).isEmpty)
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
        }
    }
}
