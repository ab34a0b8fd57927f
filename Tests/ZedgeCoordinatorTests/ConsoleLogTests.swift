import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// `GET /api/v1/instances/{id}/console-log`: an agent call carried over the agent's own long-poll.
@Suite("Console log through the agent's long-poll")
struct ConsoleLogTests {
    /// Plays the agent: long-polls until a console-log call arrives, answers it from `log`, and returns the call.
    static func answerOneCall(_ f: InstanceFixture, credential: String, log: [String]) async throws -> ConsoleLogCall {
        // As long as the asker waits (`InstanceFixture.patient`: 300 s), and a little more.
        let deadline = ContinuousClock.now + .seconds(330)
        while ContinuousClock.now < deadline {
            let poll = try await f.c.client.get("/agent/v1/tasks?wait=5", token: credential).decode(TaskPollResponse.self)
            guard let call = poll.calls?.first else { continue }
            #expect(call.kind == .consoleLog)
            let asked = try call.payload.decode(as: ConsoleLogCall.self)
            let output = ConsoleLogOutput(lines: Array(log.suffix(asked.lines)), truncated: log.count > asked.lines)
            let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
                AgentCallAnswer(outcome: .succeeded, answer: try JSONValue(encoding: output)))) as! [String: Any]
            let answered = try await f.c.client.post("/agent/v1/calls/\(call.id)/answer", token: credential, body)
            #expect(answered.status == 204, "\(answered.text)")
            // The first answer wins; a second is a 404.
            let again = try await f.c.client.post("/agent/v1/calls/\(call.id)/answer", token: credential, body)
            #expect(again.status == 404)
            return asked
        }
        throw TestFailure("no console-log call reached the agent")
    }

    @Test(arguments: TestEngine.all)
    func theUserReadsTheTailThroughTheAgent(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let machine = try await f.addMachine(ip: "10.9.0.1")
            let created = try await f.create("web-1")
            #expect(created.status == 202, "\(created.text)")
            let instance = try created.decode(InstanceService.Accepted.self).instance.instance
            let vm = try await c.client.get("/api/v1/virtual-machines/\(instance.virtualMachineId!)", token: f.admin).decode(VirtualMachine.self)

            let log = ["SeaBIOS", "Booting from Hard Disk...", "ZEDGE-GUEST instance-id=\(instance.id) hostname=web-1"]
            async let agent = Self.answerOneCall(f, credential: machine.credential, log: log)
            let response = try await c.client.get("/api/v1/instances/\(instance.id)/console-log?lines=2", token: f.user.token)
            let asked = try await agent
            #expect(response.status == 200, "\(response.text)")
            let output = try response.decode(ConsoleLogOutput.self)
            #expect(output.lines == Array(log.suffix(2)) && output.truncated)
            #expect(asked.lines == 2 && asked.vmName == vm.vmName && asked.vmUuid == vm.vmUuid.flatMap(UUID.init(uuidString:)))

            // Bad line counts are refused before anything is asked, naming the field.
            for bad in ["0", "1001", "ten"] {
                let refused = try await c.client.get("/api/v1/instances/\(instance.id)/console-log?lines=\(bad)", token: f.user.token)
                #expect(refused.status == 400 && refused.problemFields == ["lines"], "\(bad): \(refused.text)")
            }
            // Unknown and repeated query parameters are refused too, as on every other route.
            let unknown = try await c.client.get("/api/v1/instances/\(instance.id)/console-log?foo=1", token: f.user.token)
            #expect(unknown.status == 400 && unknown.problemFields == ["foo"], "\(unknown.text)")
            let twice = try await c.client.get("/api/v1/instances/\(instance.id)/console-log?lines=1&lines=2", token: f.user.token)
            #expect(twice.status == 400 && twice.problemFields == ["lines"], "\(twice.text)")
            // Another tenant's user does not see the instance at all.
            let other = try await c.createTenant("other-\(UUID().uuidString.prefix(4).lowercased())", token: f.admin)
            let stranger = try await c.createUser("stranger-\(UUID().uuidString.prefix(4).lowercased())", role: .user, tenant: other.id, token: f.admin)
            #expect(try await c.client.get("/api/v1/instances/\(instance.id)/console-log", token: stranger.token).status == 404)
            // A CloudBox-free agent of another machine cannot answer this machine's calls.
            let intruder = try await f.addMachine(ip: "10.9.0.2")
            let forged = try await c.client.post("/agent/v1/calls/\(UUID())/answer", token: intruder.credential,
                                                  ["outcome": "SUCCEEDED"])
            #expect(forged.status == 404)
        }
    }

    @Test func anAgentThatDoesNotAnswerIsA503AndAnOfflineHostA409() async throws {
        try await TestCoordinator.with(.sqlite, configure: {
            $0.heartbeatIntervalSeconds = 2
            $0.missedHeartbeatsBeforeOffline = 3
        }) { c in
            let f = try await InstanceFixture.make(c)
            let machine = try await f.addMachine(ip: "10.9.1.1")
            let created = try await f.create("quiet-1")
            #expect(created.status == 202, "\(created.text)")
            let id = try created.decode(InstanceService.Accepted.self).instance.instance.id

            // Nobody polls for the machine: the call is withdrawn after the wait. The machine keeps beating meanwhile, so
            // that it is ONLINE when asked however slow the machine running the test is (ci run 17: 409 after a stall).
            let silent = try await withThrowingTaskGroup(of: APIResponse?.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await f.heartbeat(machine.credential, observed: [])
                        try? await Task.sleep(for: .milliseconds(300))
                    }
                    return nil
                }
                try await f.heartbeat(machine.credential, observed: [])
                let answer = try await c.client.get("/api/v1/instances/\(id)/console-log", token: f.user.token)
                group.cancelAll()
                return answer
            }
            #expect(silent.status == 503, "\(silent.text)")

            // Two missed heartbeats later the machine is OFFLINE: 409 naming its state, at once.
            try await eventually("machine OFFLINE", within: 60) {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: f.admin).decode(ComputeMachine.self).status == .offline
            }
            let offline = try await c.client.get("/api/v1/instances/\(id)/console-log", token: f.user.token)
            #expect(offline.status == 409 && offline.text.contains("OFFLINE"), "\(offline.text)")
        }
    }
}
