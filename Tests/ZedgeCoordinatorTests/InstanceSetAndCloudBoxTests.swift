import Foundation
import SQLKit
import Logging
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

extension InstanceFixture {
    /// Creates an instance and has the machine's agent report it running.
    func running(_ name: String, on host: (id: UUID, credential: String)) async throws -> Instance {
        try await instance(try await runningDomain(name, on: host).id).instance
    }

    /// As `running`: the instance's id and its domain's spec (what the host's heartbeats report it by).
    func runningDomain(_ name: String, on host: (id: UUID, credential: String)) async throws -> (id: UUID, spec: VmSpec) {
        let accepted = try await create(name).decode(InstanceService.Accepted.self)
        let tasks = try await lease(host.credential)
        guard tasks.count == 1, tasks[0].kind == .vmCreate else { throw TestFailure("expected one vm.create, got \(tasks.map(\.kind))") }
        let spec = try tasks[0].payload.decode(as: VmCreatePayload.self).spec
        try await finish(tasks[0], credential: host.credential, state: .running)
        return (accepted.instance.instance.id, spec)
    }
}

@Suite("Instance sets")
struct InstanceSetTests {
    @Test(arguments: TestEngine.all)
    func bulkStopAndStartWithAStepPerMember(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.8.0.1")
            let a = try await f.running("a", on: host)
            let b = try await f.running("b", on: host)
            let set = try await c.client.post("/api/v1/instance-sets", token: f.user.token, ["name": "lab", "setType": "TRAINING"])
            #expect(set.status == 201, "\(set.text)")
            let setId = try set.decode(InstanceSet.self).id
            for instance in [a, b] {
                #expect(try await c.client.post("/api/v1/instance-sets/\(setId)/members", token: f.user.token, ["instanceId": instance.id.uuidString]).status == 201)
            }
            let duplicate = try await c.client.post("/api/v1/instance-sets/\(setId)/members", token: f.user.token, ["instanceId": a.id.uuidString])
            #expect(duplicate.status == 409, "\(duplicate.text)")
            #expect(try await c.client.post("/api/v1/instance-sets", token: f.user.token, ["name": "lab"]).status == 409)

            // Bulk stop: one operation, a step per member, progress as they finish.
            let stop = try await c.client.post("/api/v1/instance-sets/\(setId)/actions/stop", token: f.user.token, [:])
            #expect(stop.status == 202, "\(stop.text)")
            let operation = try stop.decode(ZedgeCore.Operation.self)
            #expect(operation.steps.count == 2 && operation.progress == 0)
            let stops = try await f.lease(host.credential)
            #expect(stops.map(\.kind) == [.vmStop, .vmStop])
            try await f.finish(stops[0], credential: host.credential, state: .shutOff)
            let half = try await c.client.get("/api/v1/operations/\(operation.id)", token: f.user.token).decode(ZedgeCore.Operation.self)
            #expect(half.progress == 50 && half.status == .running)
            try await f.finish(stops[1], credential: host.credential, state: .shutOff)
            let done = try await c.client.get("/api/v1/operations/\(operation.id)", token: f.user.token).decode(ZedgeCore.Operation.self)
            #expect(done.progress == 100 && done.status == .succeeded)
            let stoppedA = try await f.instance(a.id).instance.status, stoppedB = try await f.instance(b.id).instance.status
            #expect(stoppedA == .stopped && stoppedB == .stopped)

            // Start one by hand; bulk start skips it (its step says why) and starts the other.
            _ = try await c.client.post("/api/v1/instances/\(a.id)/actions/start", token: f.user.token, [:])
            let startA = try await f.lease(host.credential)
            try await f.finish(startA[0], credential: host.credential, state: .running)
            let start = try await c.client.post("/api/v1/instance-sets/\(setId)/actions/start", token: f.user.token, [:]).decode(ZedgeCore.Operation.self)
            #expect(start.steps.filter { $0.status == .skipped }.count == 1 && start.progress == 50)
            #expect(start.steps.contains { $0.name.contains("skipped: RUNNING") })
            let starts = try await f.lease(host.credential)
            #expect(starts.map(\.kind) == [.vmStart])
            try await f.finish(starts[0], credential: host.credential, state: .running)
            #expect(try await f.instance(b.id).instance.status == .running)
            #expect(try await c.client.get("/api/v1/operations/\(start.id)", token: f.user.token).decode(ZedgeCore.Operation.self).status == .succeeded)

            // Another tenant cannot see the set; deleting it keeps its instances.
            let stranger = try await c.createUser("s-\(UUID().uuidString.prefix(5).lowercased())", role: .user,
                                                  tenant: try await c.createTenant("o-\(UUID().uuidString.prefix(5).lowercased())", token: f.admin).id,
                                                  token: f.admin)
            #expect(try await c.client.get("/api/v1/instance-sets/\(setId)", token: stranger.token).status == 404)
            #expect(try await c.client.delete("/api/v1/instance-sets/\(setId)", token: f.user.token).status == 204)
            // Hidden once DELETED (404 on every route), listed only when asked for by status.
            #expect(try await c.client.get("/api/v1/instance-sets/\(setId)", token: f.user.token).status == 404)
            #expect(try await c.client.patch("/api/v1/instance-sets/\(setId)", token: f.user.token, ["description": "back"]).status == 404)
            #expect(try await c.client.delete("/api/v1/instance-sets/\(setId)", token: f.user.token).status == 404)
            #expect(try await c.client.get("/api/v1/instance-sets", token: f.user.token).decode(Page<InstanceSet>.self).items.isEmpty)
            let deleted = try await c.client.get("/api/v1/instance-sets?status=DELETED", token: f.user.token).decode(Page<InstanceSet>.self).items
            #expect(deleted.map(\.id) == [setId])
            #expect(try await f.instance(a.id).instance.status == .running)

            // Create accepts the statuses PATCH accepts (issue #15 item 6), and no other.
            let archived = try await c.client.post("/api/v1/instance-sets", token: f.user.token, ["name": "old-lab", "status": "ARCHIVED"])
            #expect(archived.status == 201, "\(archived.text)")
            #expect(try archived.decode(InstanceSet.self).status == .archived)
            let bornDeleted = try await c.client.post("/api/v1/instance-sets", token: f.user.token, ["name": "gone-lab", "status": "DELETED"])
            #expect(bornDeleted.status == 400 && bornDeleted.problemFields == ["status"], "\(bornDeleted.text)")
        }
    }
}

@Suite("CloudBox binding")
struct CloudBoxBindingTests {
    @Test func aRealCloudBoxAgentAppliesBindingsUnbindsOnExpiryAndRefusesWhenDisabled() async throws {
        try await TestCoordinator.with(.sqlite, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.reconcileIntervalSeconds = 1
            $0.agentCallTimeoutSeconds = 60  // a bind waits for the VM's host to set the ticket
        }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.9.0.1")
            let desk = try await f.runningDomain("desk", on: host)
            let instance = try await f.instance(desk.id).instance
            let observed = [ObservedVm(vmUuid: desk.spec.uuid.uuidString.lowercased(), vmName: desk.spec.name, state: .running)]
            // The desk's host: heartbeats with the desk running, and answers its agent calls as a real agent would, remembering each
            // graphics-password call (a binding's ticket is the VM's graphics password, issue #16).
            let passwords = Mutex<[GraphicsPasswordCall]>([])
            let standIn = Task {
                while !Task.isCancelled {
                    try? await f.heartbeat(host.credential, observed: observed)
                    guard let poll = try? await c.client.get("/agent/v1/tasks?wait=1", token: host.credential).decode(TaskPollResponse.self)
                    else { continue }
                    for call in poll.calls ?? [] {
                        if call.kind == .graphicsPassword, let asked = try? call.payload.decode(as: GraphicsPasswordCall.self) {
                            passwords.withLock { $0.append(asked) }
                        }
                        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(AgentCallAnswer(outcome: .succeeded))) as! [String: Any]
                        _ = try? await c.client.post("/agent/v1/calls/\(call.id)/answer", token: host.credential, body)
                    }
                }
            }
            defer { standIn.cancel() }

            // A technician pre-registers the box; its agent registers and runs, writing to its own directory.
            let serial = "CB-\(UUID().uuidString.prefix(8))"
            let pre = try await c.client.post("/api/v1/cloud-boxes", token: f.admin, ["serialNumber": serial, "edgeDataCenterId": f.dataCenter.id.uuidString])
            #expect(pre.status == 201, "\(pre.text)")
            let boxId = try pre.decode(CloudBox.self).id
            let tokenResponse = try await c.client.post("/api/v1/enrollment-tokens", token: f.admin, [
                "edgeDataCenterId": f.dataCenter.id.uuidString, "kind": "CLOUD_BOX",
            ])
            let token = try #require(try tokenResponse.json()["token"] as? String)
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-box-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: root) }
            let registered = try await ProcessRunner.run("zedge-agent", [
                "register", "--coordinator", c.baseURL, "--token", token, "--ca-hash", try #require(c.started.caFingerprint),
                "--state-dir", "\(root)/state", "--kind", "cloud-box", "--serial-number", serial, "--management-ip", "198.51.100.50",
            ])
            #expect(registered.status == 0, "\(registered.stderr)")
            let agent = try AgentEndToEndTests.AgentProcess(stateDir: "\(root)/state", environment: ["ZEDGE_AGENT_REBOOTER": "record"],
                                                            arguments: ["--cloudbox-dir", "\(root)/box"])
            defer { kill(agent.process.processIdentifier, SIGTERM) }
            try await eventually("the box comes ONLINE") {
                try await c.client.get("/api/v1/cloud-boxes/\(boxId)", token: f.admin).decode(CloudBox.self).status == .online
            }

            // Bind: the box's agent writes the session file (ticket included, readable only by the agent's user).
            let expiresAt = ZedgeJSON.formatDate(Date().addingTimeInterval(600))
            let bind = try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/bind", token: f.admin,
                                               ["instanceId": instance.id.uuidString, "expiresAt": expiresAt])
            #expect(bind.status == 202, "\(bind.text)")
            let bindOperation = try bind.decode(CloudBoxService.Accepted.self).operation
            let session = "\(root)/box/session.json"
            try await eventually("the agent writes session.json") { FileManager.default.fileExists(atPath: session) }
            let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: session))) as? [String: Any]
            #expect(written?["instanceId"] as? String == instance.id.uuidString)
            let ticket = try #require(written?["ticket"] as? String)
            let console = try #require(written?["console"] as? [String: Any])
            let path = try #require(console["websocketPath"] as? String)
            #expect(path.hasPrefix("/console/zct_") && path.hasSuffix("/websocket"), "\(path)")
            #expect(console["websocketUrl"] as? String == "wss://127.0.0.1:\(c.started.port)" + path)
            // The ticket is the VM's graphics password until the binding expires (VNC reads 8 characters).
            #expect(ticket.utf8.count == 8)
            let set = try #require(passwords.withLock { $0.last })
            #expect(set.password == ticket && set.validUntil.map { abs($0.timeIntervalSince(ZedgeJSON.parseDate(expiresAt)!)) < 1 } == true)
            #expect(try FileManager.default.attributesOfItem(atPath: session)[.posixPermissions] as? Int == 0o600)
            try await eventually("the bind operation succeeds") {
                try await c.client.get("/api/v1/operations/\(bindOperation.id)", token: f.admin).decode(ZedgeCore.Operation.self).status == .succeeded
            }
            let bound = try await c.client.get("/api/v1/cloud-boxes/\(boxId)", token: f.admin).decode(CloudBox.self)
            #expect(bound.temporaryInstanceId == instance.id && bound.temporaryBindExpiresAt != nil)
            let payloads = try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: Logger(label: "test")) { database in
                try await database.sql.raw("SELECT payload FROM agent_tasks WHERE kind = 'cloudbox.bind'").all()
                    .map { try $0.decode(column: "payload", as: String.self) }
            }
            #expect(payloads.count == 1 && payloads.allSatisfy { !$0.contains(ticket) && !$0.contains("zct_") }, "\(payloads)")

            // Unbind by hand removes the session, and the VM's password is rotated to one nobody knows.
            let before = passwords.withLock { $0.count }
            #expect(try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/unbind", token: f.admin, [:]).status == 202)
            try await eventually("the agent removes session.json") { !FileManager.default.fileExists(atPath: session) }
            let rotated = passwords.withLock { Array($0.dropFirst(before)) }
            #expect(rotated.count == 1 && rotated.first?.password == nil && rotated.first?.endSessions.count == 1, "\(rotated)")

            // A binding that expires is ended by the reconciler.
            let short = ZedgeJSON.formatDate(Date().addingTimeInterval(2))
            let shortBind = try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/bind", token: f.admin,
                                                    ["instanceId": instance.id.uuidString, "expiresAt": short])
            #expect(shortBind.status == 202, "\(shortBind.text)")
            try await eventually("the expired binding is ended") {
                let box = try await c.client.get("/api/v1/cloud-boxes/\(boxId)", token: f.admin).decode(CloudBox.self)
                return box.temporaryInstanceId == nil && !FileManager.default.fileExists(atPath: session)
            }
            try await eventually("the expired binding's password is rotated") {
                passwords.withLock { $0.last?.password == nil && $0.count >= before + 3 }
            }

            // Network settings reach the box's files; a disabled box refuses a binding.
            let network = try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/configure-network", token: f.admin, [
                "networkMode": "STATIC", "ipAddress": "192.168.10.20", "subnetMask": "255.255.255.0", "gateway": "192.168.10.1",
                "dnsServers": ["1.1.1.1"],
            ])
            #expect(network.status == 202, "\(network.text)")
            try await eventually("the agent writes network.env") {
                (try? String(contentsOfFile: "\(root)/box/network.env", encoding: .utf8))?.contains("GATEWAY=\"192.168.10.1\"") == true
            }
            let badNetwork = try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/configure-network", token: f.admin, [
                "networkMode": "STATIC", "ipAddress": "192.168.10.20", "subnetMask": "255.0.255.0", "gateway": "192.168.10.1",
            ])
            #expect(badNetwork.status == 400 && badNetwork.problemFields.contains("subnetMask"), "\(badNetwork.text)")
            #expect(try await c.client.patch("/api/v1/cloud-boxes/\(boxId)", token: f.admin, ["isDisabled": true]).status == 200)
            let refused = try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/bind", token: f.admin,
                                                  ["instanceId": instance.id.uuidString, "expiresAt": expiresAt])
            #expect(refused.status == 409 && refused.text.contains("disabled"), "\(refused.text)")
            // A user to whom the box is not assigned does not see it.
            #expect(try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/unbind", token: f.user.token, [:]).status == 404)
        }
    }
}
