import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Two coordinator replicas on one PostgreSQL database (DESIGN §5): a task queued through one wakes the
/// long-poll held by the other (LISTEN/NOTIFY), and only one of them runs the background loops.
@Suite struct ReplicaTests {
    @Test  // on PostgreSQL (ZEDGE_TEST_POSTGRES_URL, which make test sets); fails without it, never skips
    func twoReplicasShareTheWorkThroughTheDatabase() async throws {
        try await TestCoordinator.with(.postgres, configure: { $0.reconcileIntervalSeconds = 1 }) { a in
            var second = a.configuration
            second.port = 0
            try await TestCoordinator.run(second) { b in
                let f = try await InstanceFixture.make(a)
                let host = try await f.addMachine(ip: "10.20.0.1")  // registered and heartbeating through A
                let adminOnB = try await b.adminToken()

                // The agent long-polls A; the task is queued through B and reaches it at once.
                async let polled = a.client.get("/agent/v1/tasks?wait=50", token: host.credential)
                try await Task.sleep(for: .milliseconds(500))
                let queued = try await b.client.post("/api/v1/compute-machines/\(host.id)/tasks", token: adminOnB, [
                    "kind": "vm.start", "payload": ["vmUuid": UUID().uuidString, "vmName": "zedge-woken"],
                ])
                #expect(queued.status == 202, "\(queued.text)")
                let started = ContinuousClock.now
                let tasks = try await polled.decode(TaskPollResponse.self).tasks
                #expect(tasks.map(\.kind) == [.vmStart])
                // Woken, not timed out: the poll asked for 50 s.
                #expect(ContinuousClock.now - started < .seconds(45))

                // One leader: an orphan reported through A gets exactly one vm.delete, not one per replica.
                let stray = try await f.deletedDomain("stray", on: host)
                try await f.heartbeat(host.credential, observed: [stray])
                var deletes: [TaskAssignment] = []
                try await eventually("an orphan delete is queued") {
                    deletes += try await f.lease(host.credential)
                    return !deletes.isEmpty
                }
                try await Task.sleep(for: .seconds(4))  // several reconcile passes of both replicas
                deletes += try await f.lease(host.credential)
                #expect(deletes.map(\.kind) == [.vmDelete], "\(deletes.map(\.kind))")
                // A host of its own: the orphan's vm.delete above comes back once its delivery window runs out.
                try await Self.aRestartedAgentOnTheOtherReplicaEndsItsOldRunsPoll(a, b, host: try await f.addMachine(ip: "10.20.0.2"))
            }
        }
    }

    /// A console-log call asked through B reaches the agent's long-poll held by A. A's polls read calls only when
    /// their host may have one (`TaskNotifier.takeCallMark`): after the agent's first poll of A, only the call's own
    /// `NOTIFY zedge_tasks, '<host> call'` from B makes A look again.
    @Test  // on PostgreSQL (ZEDGE_TEST_POSTGRES_URL, which make test sets); fails without it, never skips
    func aCallAskedThroughOneReplicaReachesTheLongPollHeldByTheOther() async throws {
        try await TestCoordinator.with(.postgres, configure: {
            InstanceFixture.patient(&$0)
            $0.taskLeaseSeconds = 900  // the create below stays leased for as long as the call may take
        }) { a in
            var second = a.configuration
            second.port = 0
            try await TestCoordinator.run(second) { b in
                let f = try await InstanceFixture.make(a)
                let machine = try await f.addMachine(ip: "10.21.0.1")
                let created = try await f.create("relay-1")
                #expect(created.status == 202, "\(created.text)")
                let instance = try created.decode(InstanceService.Accepted.self).instance.instance
                let leased = try await f.lease(machine.credential)
                #expect(leased.map(\.kind) == [.vmCreate], "the agent has polled A: no calls there yet")
                // Received, so its lease runs the whole taskLeaseSeconds: unacknowledged, it came back after the
                // delivery window, and under a loaded suite (CI, a console-log request of 90 s) its attempts ran out
                // and the instance was ERROR, which has no console log.
                for task in leased { try await f.acknowledge(task, credential: machine.credential) }

                let log = ["ZEDGE-GUEST instance-id=\(instance.id) hostname=relay-1"]
                async let agent = ConsoleLogTests.answerOneCall(f, credential: machine.credential, log: log)
                try await Task.sleep(for: .milliseconds(500))  // the agent's poll is held by A
                let asked = ContinuousClock.now
                let response = try await b.client.get("/api/v1/instances/\(instance.id)/console-log?lines=5", token: try await b.adminToken())
                // B's answer first: when it is not a 200 the agent's wait below fails too, and this says why.
                #expect(response.status == 200, "after \(ContinuousClock.now - asked): \(response.text)")
                _ = try await agent
                #expect(try response.decode(ConsoleLogOutput.self).lines == log)
            }
        }
    }

    /// The agent's killed run left a long-poll waiting on A; its new run polls B. A hears of the new run
    /// (`NOTIFY zedge_tasks, '<host> <run> <ms>'`): the old poll ends at once with nothing, and a task queued through A
    /// goes to the new run on B.
    static func aRestartedAgentOnTheOtherReplicaEndsItsOldRunsPoll(_ a: TestCoordinator, _ b: TestCoordinator,
                                                                    host: (id: UUID, credential: String)) async throws {
        func poll(_ c: TestCoordinator, wait: Int, run: UUID) async throws -> [TaskAssignment] {
            let response = try await c.client.send(.GET, "/agent/v1/tasks?wait=\(wait)", token: host.credential,
                                                   headers: [(AgentRun.header, run.uuidString)])
            guard response.status == 200 else { throw TestFailure("poll: \(response.status) \(response.text)") }
            return try response.decode(TaskPollResponse.self).tasks
        }
        let killed = UUID(), restarted = UUID()
        _ = try await poll(a, wait: 0, run: killed)
        async let held = poll(a, wait: 50, run: killed)
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        _ = try await poll(b, wait: 0, run: restarted)
        #expect(try await held.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(40), "woken by the new run, not timed out: it asked for 50 s")
        let queued = try await a.client.post("/api/v1/compute-machines/\(host.id)/tasks", token: try await a.adminToken(), [
            "kind": "vm.stop", "payload": ["vmUuid": UUID().uuidString, "vmName": "zedge-restarted", "timeoutS": 1],
        ])
        #expect(queued.status == 202, "\(queued.text)")
        let kinds = try await poll(b, wait: 5, run: restarted).map(\.kind)
        #expect(kinds == [.vmStop], "\(kinds)")
    }
}
