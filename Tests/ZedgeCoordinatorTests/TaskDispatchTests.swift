import Foundation
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Task dispatch over the real protocol: long-poll, leases, events, results, operations.
@Suite struct TaskDispatchTests {
    struct TwoAgents {
        let c: TestCoordinator
        let f: AgentProtocolTests.Fixture
        let a: RegisterResponse
        let b: RegisterResponse

        static func make(_ c: TestCoordinator) async throws -> TwoAgents {
            let f = try await AgentProtocolTests.Fixture.make(c)
            let token = try await f.token(uses: 2)
            let a = try await f.register(token, ip: "10.9.0.1", hostname: "agent-a").decode(RegisterResponse.self)
            let b = try await f.register(token, ip: "10.9.0.2", hostname: "agent-b").decode(RegisterResponse.self)
            return TwoAgents(c: c, f: f, a: a, b: b)
        }

        func enqueue(on machine: UUID, kind: TaskKind = .vmStart, maxAttempts: Int = 5) async throws -> (operation: ZedgeCore.Operation, task: AgentTask) {
            let response = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                "kind": kind.rawValue, "payload": ["vmUuid": UUID().uuidString, "vmName": "vm-x"], "maxAttempts": maxAttempts,
            ])
            guard response.status == 202 else { throw TestFailure("enqueue: \(response.status) \(response.text)") }
            let json = try response.json()
            let operation = try ZedgeJSON.decoder().decode(ZedgeCore.Operation.self, from: JSONSerialization.data(withJSONObject: json["operation"]!))
            let task = try ZedgeJSON.decoder().decode(AgentTask.self, from: JSONSerialization.data(withJSONObject: json["task"]!))
            return (operation, task)
        }

        func poll(_ agent: RegisterResponse, wait: Int, run: UUID? = nil) async throws -> [TaskAssignment] {
            let response = try await c.client.send(.GET, "/agent/v1/tasks?wait=\(wait)", token: agent.credential,
                                                   headers: run.map { [(AgentRun.header, $0.uuidString)] } ?? [])
            guard response.status == 200 else { throw TestFailure("poll: \(response.status) \(response.text)") }
            return try response.decode(TaskPollResponse.self).tasks
        }

        func operation(_ id: UUID) async throws -> ZedgeCore.Operation {
            try await c.client.get("/api/v1/operations/\(id)", token: f.admin).decode(ZedgeCore.Operation.self)
        }
    }

    @Test(arguments: TestEngine.all)
    func aTaskReachesItsAgentThroughTheLongPollAndCompletesItsOperation(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let t = try await TwoAgents.make(c)
            // A is already waiting when the task is queued: it wakes with it (no database polling). The transaction
            // that queues it hands it over: it is stored leased to A's poll, and the operation is RUNNING at once.
            async let waiting = t.poll(t.a, wait: 30)
            try await eventually("A's long-poll is held") {
                try await MetricsTests.page(c).value("zedge_agent_long_polls_held") == 1
            }
            let queued = try await t.enqueue(on: t.a.machineId!)
            #expect(queued.task.status == .leased && queued.task.attempts == 1 && queued.task.leaseExpiresAt != nil)
            #expect(queued.operation.status == .running && queued.operation.progress == 0)
            let received = try await waiting
            #expect(received.map(\.id) == [queued.task.id])
            #expect(received.first?.attempt == 1 && received.first?.kind == .vmStart)
            // B gets nothing of A's.
            #expect(try await t.poll(t.b, wait: 1).isEmpty)
            // B may not touch A's task: 404.
            #expect(try await c.client.post("/agent/v1/tasks/\(queued.task.id)/events", token: t.b.credential, ["sequence": 1, "kind": "STEP", "name": "x"]).status == 404)
            #expect(try await c.client.post("/agent/v1/tasks/\(queued.task.id)/result", token: t.b.credential, ["outcome": "SUCCEEDED"]).status == 404)

            // Events, twice each: recorded once. The operation is RUNNING.
            for _ in 0..<2 {
                #expect(try await c.client.post("/agent/v1/tasks/\(queued.task.id)/events", token: t.a.credential, ["sequence": 1, "kind": "STEP", "name": "defined"]).status == 204)
            }
            #expect(try await t.operation(queued.operation.id).status == .running)
            // The result, twice: the second changes nothing.
            let first = try await c.client.post("/agent/v1/tasks/\(queued.task.id)/result", token: t.a.credential,
                                                ["outcome": "SUCCEEDED", "observed": ["state": "RUNNING"]])
            #expect(first.status == 204 && first.text.isEmpty, "\(first.text)")
            func stored() async throws -> [String: Any]? {
                let tasks = try await c.client.get("/api/v1/operations/\(queued.operation.id)/tasks", token: t.f.admin)
                return (try tasks.json()["items"] as? [[String: Any]])?.first { ($0["id"] as? String)?.lowercased() == queued.task.id.uuidString.lowercased() }
            }
            let finished = try await stored()
            #expect(finished?["status"] as? String == "SUCCEEDED" && finished?["finishedAt"] is String, "\(String(describing: finished))")
            let second = try await c.client.post("/agent/v1/tasks/\(queued.task.id)/result", token: t.a.credential, ["outcome": "FAILED", "error": "late"])
            #expect(second.status == 204)
            let after = try await stored()
            #expect(after?["status"] as? String == "SUCCEEDED" && after?["finishedAt"] as? String == finished?["finishedAt"] as? String)
            let operation = try await t.operation(queued.operation.id)
            #expect(operation.status == .succeeded && operation.progress == 100 && operation.endedAt != nil)
            // Nothing more to hand out.
            #expect(try await t.poll(t.a, wait: 0).isEmpty)
            // Bad long-poll parameters are a 400 naming the field.
            #expect(try await c.client.get("/agent/v1/tasks?wait=61", token: t.a.credential).problemFields == ["wait"])
        }
    }

    @Test(arguments: TestEngine.all)
    func anExpiredLeaseHandsTheTaskOutAgainAndItCompletesOnce(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.taskLeaseSeconds = 1 }) { c in
            let t = try await TwoAgents.make(c)
            let queued = try await t.enqueue(on: t.a.machineId!)
            #expect(try await t.poll(t.a, wait: 5).map(\.attempt) == [1])  // the agent "vanishes" with it
            // After the lease runs out the task comes back (attempt 2), woken by the expiry.
            let again = try await t.poll(t.a, wait: 15)
            #expect(again.map(\.id) == [queued.task.id])
            #expect(again.first?.attempt == 2)
            #expect(try await c.client.post("/agent/v1/tasks/\(queued.task.id)/result", token: t.a.credential, ["outcome": "SUCCEEDED"]).status == 204)
            #expect(try await t.operation(queued.operation.id).status == .succeeded)
            // A task whose last attempt ran out is FAILED, and so is its operation.
            let doomed = try await t.enqueue(on: t.b.machineId!, maxAttempts: 1)
            #expect(try await t.poll(t.b, wait: 5).count == 1)
            var operation = try await t.operation(doomed.operation.id)
            let deadline = ContinuousClock.now + .seconds(15)
            while operation.status != .failed, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                operation = try await t.operation(doomed.operation.id)
            }
            #expect(operation.status == .failed)
            #expect(operation.error?.contains("did not finish within its lease") == true)
        }
    }
}

/// No task is lost to an agent that has gone (issue #12): a new run of a host's agent gets the leases of its
/// previous runs at once, and a task handed out but never acknowledged comes back after the delivery window.
@Suite struct TaskDeliveryTests {
    typealias TwoAgents = TaskDispatchTests.TwoAgents

    @Test(arguments: TestEngine.all)
    func aRestartedAgentGetsTheTasksItsPreviousRunHeldAtOnce(engine: TestEngine) async throws {
        // Leases and delivery windows far longer than the test: only the new run can free them in time.
        try await TestCoordinator.with(engine, configure: { $0.taskLeaseSeconds = 600; $0.taskDeliverySeconds = 600 }) { c in
            let t = try await TwoAgents.make(c)
            let first = UUID(), second = UUID()
            let queued = try await t.enqueue(on: t.a.machineId!)
            let other = try await t.enqueue(on: t.b.machineId!)
            // Run 1 takes the task and dies with it (its response went to a connection nobody reads).
            #expect(try await t.poll(t.a, wait: 5, run: first).map(\.id) == [queued.task.id])
            #expect(try await t.poll(t.b, wait: 5, run: UUID()).map(\.id) == [other.task.id])
            // The same run polling again does not get it a second time: it still holds it.
            #expect(try await t.poll(t.a, wait: 0, run: first).isEmpty)
            // Run 2 of the same host gets it at once, as attempt 2; the operation is running again, not lost.
            let again = try await t.poll(t.a, wait: 0, run: second)
            #expect(again.map(\.id) == [queued.task.id])
            #expect(again.first?.attempt == 2)
            #expect(try await t.operation(queued.operation.id).status == .running)
            // Run 2 keeps what it holds when it polls again, and host B's lease was never touched.
            #expect(try await t.poll(t.a, wait: 0, run: second).isEmpty)
            #expect(try await t.operation(other.operation.id).status == .running)
            #expect(try await c.client.post("/agent/v1/tasks/\(queued.task.id)/result", token: t.a.credential, ["outcome": "SUCCEEDED"]).status == 204)
            #expect(try await t.operation(queued.operation.id).status == .succeeded)
            // A run that is not a UUID is a 400 naming the header.
            let bad = try await c.client.send(.GET, "/agent/v1/tasks?wait=0", token: t.a.credential, headers: [(AgentRun.header, "not-a-uuid")])
            #expect(bad.status == 400 && bad.problemFields == [AgentRun.header], "\(bad.text)")
        }
    }

    /// A SIGKILLed agent's long-poll stays open on the coordinator until it writes to it. A run that has been
    /// replaced takes nothing: its held poll ends empty the moment the new run polls, and a later task goes to the
    /// new run, not into a lease nobody reads (the kill loop's clean-up once waited 900 s on one).
    @Test(arguments: TestEngine.all)
    func aLongPollLeftWaitingByAReplacedRunTakesNothing(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.taskLeaseSeconds = 600; $0.taskDeliverySeconds = 600 }) { c in
            let t = try await TwoAgents.make(c)
            let killed = UUID(), restarted = UUID()
            #expect(try await t.poll(t.a, wait: 0, run: killed).isEmpty)
            async let held = t.poll(t.a, wait: 50, run: killed)
            async let otherHost = t.poll(t.b, wait: 50, run: UUID())
            try await Task.sleep(for: .milliseconds(500))
            // The new run's first poll ends the old run's held poll at once, with nothing.
            let started = ContinuousClock.now
            #expect(try await t.poll(t.a, wait: 0, run: restarted).isEmpty)
            #expect(try await held.isEmpty)
            #expect(ContinuousClock.now - started < .seconds(40), "woken, not timed out: it asked for 50 s")
            // A task queued now is the new run's, as attempt 1.
            let queued = try await t.enqueue(on: t.a.machineId!)
            let received = try await t.poll(t.a, wait: 5, run: restarted)
            #expect(received.map(\.id) == [queued.task.id])
            #expect(received.first?.attempt == 1)
            // The other host's poll was not touched: it gets its own task.
            let other = try await t.enqueue(on: t.b.machineId!)
            #expect(try await otherHost.map(\.id) == [other.task.id])
        }
    }

    @Test(arguments: TestEngine.all)
    func anUnacknowledgedTaskComesBackAfterTheDeliveryWindowAndAnAcknowledgedOneKeepsItsLease(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.taskLeaseSeconds = 600; $0.taskDeliverySeconds = 1 }) { c in
            let t = try await TwoAgents.make(c)
            let run = UUID()
            let acknowledged = try await t.enqueue(on: t.a.machineId!)
            let lost = try await t.enqueue(on: t.a.machineId!)
            #expect(Set(try await t.poll(t.a, wait: 5, run: run).map(\.id)) == [acknowledged.task.id, lost.task.id])
            // The agent received only the first one (its response was cut short): it acknowledges that one.
            #expect(try await c.client.post("/agent/v1/tasks/\(acknowledged.task.id)/events", token: t.a.credential,
                                            ["sequence": 1, "kind": "STEP", "name": "started"]).status == 204)
            // The other comes back once the delivery window has passed (attempt 2); the acknowledged one does not.
            var again: [TaskAssignment] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while again.isEmpty, ContinuousClock.now < deadline { again = try await t.poll(t.a, wait: 5, run: run) }
            #expect(again.map(\.id) == [lost.task.id])
            #expect(again.first?.attempt == 2)
            let held = try await c.client.get("/api/v1/operations/\(acknowledged.operation.id)", token: t.f.admin).decode(ZedgeCore.Operation.self)
            #expect(held.status == .running)
        }
    }

    /// Polls of one agent at once (a woken poll and a new one, or two replicas): every queued task is leased by
    /// exactly one of them, and each lease moves its operation's step along once, in the same transaction.
    @Test(arguments: TestEngine.all)
    func concurrentPollsLeaseEachTaskOnceAndMoveItsOperation(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let t = try await TaskDispatchTests.TwoAgents.make(c)
            var queued: [(operation: ZedgeCore.Operation, task: AgentTask)] = []
            for _ in 0..<6 { queued.append(try await t.enqueue(on: t.a.machineId!)) }
            let leased = try await withThrowingTaskGroup(of: [TaskAssignment].self) { group in
                for _ in 0..<4 { group.addTask { try await t.poll(t.a, wait: 0) } }
                return try await group.reduce(into: [TaskAssignment]()) { $0 += $1 }
            }
            #expect(leased.map(\.id).sorted() == queued.map(\.task.id).sorted(), "each task once, none twice")
            #expect(leased.allSatisfy { $0.attempt == 1 })
            for (operation, _) in queued {
                let stored = try await t.operation(operation.id)
                #expect(stored.status == .running && stored.steps.map(\.status) == [.running] && stored.startedAt != nil,
                        "\(stored.status) \(stored.steps.map(\.status))")
            }
            #expect(try await t.poll(t.a, wait: 0).isEmpty)
            #expect(try await t.poll(t.b, wait: 0).isEmpty)
        }
    }
}

@Suite struct TaskPersistenceTests {
    /// A coordinator restarted on the same data dir keeps queued tasks and leases: a leased task is handed
    /// out again once its lease runs out, a queued one right away, and both complete once.
    @Test(arguments: TestEngine.all)
    func aRestartLosesNoQueuedTaskNorLease(engine: TestEngine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-persist-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = CoordinatorConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: directory, databaseURL: try await engine.makeDatabaseURL(in: directory),
            bootstrapAdminPassword: TestCoordinator.adminPassword, logLevel: .warning, taskLeaseSeconds: 2)
        var before: (agent: RegisterResponse, leased: UUID, queued: UUID, operations: [UUID])?
        try await TestCoordinator.run(configuration) { c in
            let t = try await TaskDispatchTests.TwoAgents.make(c)
            let first = try await t.enqueue(on: t.a.machineId!)
            #expect(try await t.poll(t.a, wait: 5).map(\.id) == [first.task.id])  // leased, then the coordinator stops
            let second = try await t.enqueue(on: t.a.machineId!)                    // queued, never handed out
            before = (t.a, first.task.id, second.task.id, [first.operation.id, second.operation.id])
        }
        let state = try #require(before)
        try await TestCoordinator.run(configuration) { c in
            let admin = try await c.adminToken()
            // The queued task comes at once; the leased one once its lease has run out (attempt 2).
            var seen: [UUID: Int] = [:]
            let deadline = ContinuousClock.now + .seconds(30)
            while seen.count < 2, ContinuousClock.now < deadline {
                let response = try await c.client.get("/agent/v1/tasks?wait=5", token: state.agent.credential)
                #expect(response.status == 200, "the agent's credential survives the restart: \(response.text)")
                for task in try response.decode(TaskPollResponse.self).tasks {
                    seen[task.id] = task.attempt
                    #expect(try await c.client.post("/agent/v1/tasks/\(task.id)/result", token: state.agent.credential, ["outcome": "SUCCEEDED"]).status == 204)
                }
            }
            #expect(seen[state.queued] == 1)
            #expect(seen[state.leased] == 2)
            for operation in state.operations {
                #expect(try await c.client.get("/api/v1/operations/\(operation)", token: admin).decode(ZedgeCore.Operation.self).status == .succeeded)
            }
        }
    }
}

@Suite struct TaskLifecycleTests {
    let now = Date(timeIntervalSince1970: 2_000_000)
    func task(_ status: TaskStatus = .queued, attempts: Int = 0, max: Int = 3) -> AgentTask {
        AgentTask(operationId: UUID(), computeMachineId: UUID(), kind: .vmCreate, payload: [:], status: status, attempts: attempts, maxAttempts: max)
    }

    @Test func leaseExpiryAndRetries() throws {
        let leased = try #require(TaskLifecycle.lease(task(), now: now, ttl: 30))
        #expect(leased.status == .leased && leased.attempts == 1 && leased.leaseExpiresAt == now.addingTimeInterval(30))
        #expect(TaskLifecycle.lease(leased, now: now, ttl: 30) == nil)
        #expect(TaskLifecycle.expire(leased, now: now.addingTimeInterval(29)) == nil)
        let back = try #require(TaskLifecycle.expire(leased, now: now.addingTimeInterval(30)))
        #expect(back.status == .queued && back.leaseExpiresAt == nil)
        let last = try #require(TaskLifecycle.lease(task(attempts: 2), now: now, ttl: 30))
        let failed = try #require(TaskLifecycle.expire(last, now: now.addingTimeInterval(31)))
        #expect(failed.status == .failed && failed.finishedAt != nil)
        let extended = try #require(TaskLifecycle.extend(leased, now: now.addingTimeInterval(20), ttl: 30))
        #expect(extended.leaseExpiresAt == now.addingTimeInterval(50))
    }

    /// Cancel withdraws a QUEUED task only, never a delete; the operation is CANCELLED once nothing of it is left to
    /// run or running, and a step that failed still makes it FAILED.
    @Test func cancelWithdrawsQueuedTasksAndTheOperationEndsWhenNothingRuns() throws {
        let queued = task()
        let cancelled = try #require(TaskLifecycle.cancel(queued, reason: "cancelled by ops", now: now))
        #expect(cancelled.status == .cancelled && cancelled.finishedAt == now && cancelled.error == "cancelled by ops")
        #expect(TaskLifecycle.cancel(cancelled, reason: "again", now: now) == nil)
        #expect(TaskLifecycle.cancel(try #require(TaskLifecycle.lease(queued, now: now, ttl: 30)), reason: "late", now: now) == nil)
        var delete = queued
        delete.kind = .vmDelete
        #expect(TaskLifecycle.cancel(delete, reason: "no", now: now) == nil)
        #expect(TaskLifecycle.lease(cancelled, now: now, ttl: 30) == nil, "a cancelled task is never handed out")

        let (a, b) = (task(), task())
        let operation = ZedgeCore.Operation(kind: "x", status: .running, steps: [
            OperationStep(name: "quota", status: .succeeded), OperationStep(name: "a", taskId: a.id),
            OperationStep(name: "b", status: .running, taskId: b.id),
        ])
        let cancelledA = try #require(TaskLifecycle.cancel(a, reason: "r", now: now))
        let afterCancel = TaskLifecycle.apply(cancelledA, to: operation, now: now)
        #expect(afterCancel.steps.map(\.status) == [.succeeded, .cancelled, .running])
        #expect(afterCancel.status == .running && afterCancel.endedAt == nil, "b still runs")
        var doneB = b
        doneB.status = .succeeded
        let ended = TaskLifecycle.apply(doneB, to: afterCancel, now: now)
        #expect(ended.status == .cancelled && ended.endedAt == now)
        doneB.status = .failed
        #expect(TaskLifecycle.apply(doneB, to: afterCancel, now: now).status == .failed)
        let onlyStep = ZedgeCore.Operation(kind: "y", steps: [OperationStep(name: "a", taskId: a.id)])
        #expect(TaskLifecycle.apply(cancelledA, to: onlyStep, now: now).status == .cancelled)
    }

    @Test func aNewRunOfItsAgentFreesALeaseAtOnceAndTheLastAttemptFails() throws {
        let run = UUID()
        let leased = try #require(TaskLifecycle.lease(task(), now: now, ttl: 30, holder: run))
        #expect(leased.leaseHolder == run)
        let back = try #require(TaskLifecycle.release(leased, now: now.addingTimeInterval(1)))
        #expect(back.status == .queued && back.leaseHolder == nil && back.leaseExpiresAt == nil && back.attempts == 1)
        #expect(TaskLifecycle.release(back, now: now) == nil, "only a LEASED task has a lease to free")
        let last = try #require(TaskLifecycle.lease(task(attempts: 2), now: now, ttl: 30, holder: run))
        let failed = try #require(TaskLifecycle.release(last, now: now))
        #expect(failed.status == .failed && failed.finishedAt == now && failed.error?.contains("restarted") == true)
        // The other ends of a lease forget its holder too.
        #expect(try #require(TaskLifecycle.expire(leased, now: now.addingTimeInterval(30))).leaseHolder == nil)
        #expect(try #require(TaskLifecycle.finish(leased, with: .init(outcome: .succeeded), now: now)).leaseHolder == nil)
    }

    @Test func aLeaseTakenByAReplacedRunIsWithdrawnWithoutCountingTheAttempt() throws {
        let leased = try #require(TaskLifecycle.lease(task(attempts: 1), now: now, ttl: 30, holder: UUID()))
        #expect(leased.attempts == 2)
        let back = try #require(TaskLifecycle.withdraw(leased, now: now.addingTimeInterval(1)))
        #expect(back.status == .queued && back.attempts == 1 && back.leaseHolder == nil && back.leaseExpiresAt == nil)
        #expect(back.updatedAt == now.addingTimeInterval(1))
        #expect(TaskLifecycle.withdraw(back, now: now) == nil, "only a LEASED task has a lease to withdraw")
    }

    @Test func aHostsRunIsTheLatestToPollHereOrTheLaterOneAnnouncedByAnotherReplica() {
        let runs = AgentRuns()
        let host = UUID(), other = UUID(), first = UUID(), second = UUID(), third = UUID()
        let t0 = Date(timeIntervalSince1970: 1_760_000_000)
        #expect(runs.isCurrent(first, for: host), "nothing known yet")
        #expect(runs.isNew(first, for: host, now: t0) && !runs.isNew(first, for: host, now: t0))
        #expect(runs.isNew(second, for: host, now: t0 + 5))
        #expect(!runs.isCurrent(first, for: host) && runs.isCurrent(second, for: host))
        #expect(runs.isCurrent(first, for: other), "another host is apart")
        // News from another replica: a run that started later replaces it; news of an earlier one came late.
        #expect(!runs.supersede(host, by: first, since: t0 + 1), "the first run's news, late")
        #expect(runs.isCurrent(second, for: host))
        #expect(runs.supersede(host, by: third, since: t0 + 6) && !runs.supersede(host, by: third, since: t0 + 6))
        #expect(runs.isCurrent(third, for: host) && !runs.isCurrent(second, for: host))
        // A replaced run that polls here again is the host's run again: a live agent is never starved.
        #expect(runs.isNew(second, for: host, now: t0 + 7) && runs.isCurrent(second, for: host))
        // Forgotten (its leases could not be freed): the same run adopts again.
        runs.forget(host)
        #expect(runs.isCurrent(first, for: host) && runs.isNew(second, for: host, now: t0 + 8))
    }

    @Test func wakeChannelPayloadsNameAHostAndMaybeItsNewRun() {
        let host = UUID(), run = UUID()
        let since = Date(timeIntervalSince1970: 1_760_000_000.123)
        #expect(TaskWakeChannel.parse(host.uuidString)?.host == host)
        #expect(TaskWakeChannel.parse(host.uuidString)?.newRun == nil)
        let announced = TaskWakeChannel.parse(TaskWakeChannel.payload(host: host, run: run, since: since))
        #expect(announced?.host == host && announced?.newRun?.run == run)
        #expect(abs((announced?.newRun?.since.timeIntervalSince1970 ?? 0) - since.timeIntervalSince1970) < 0.001)
        #expect(TaskWakeChannel.parse("\(host.uuidString) \(run.uuidString)") == nil, "a run without its time")
        #expect(TaskWakeChannel.parse("\(host.uuidString) not-a-run 5") == nil)
        #expect(TaskWakeChannel.parse("\(host.uuidString) \(run.uuidString) soon") == nil)
        let call = TaskWakeChannel.parse(TaskWakeChannel.callPayload(host: host))
        #expect(call?.host == host && call?.call == true && call?.newRun == nil)
        #expect(TaskWakeChannel.parse(host.uuidString)?.call == false)
        #expect(TaskWakeChannel.parse("\(host.uuidString) calls") == nil)
        #expect(TaskWakeChannel.parse("nonsense") == nil)
        #expect(TaskWakeChannel.parse("") == nil)
    }

    @Test func resultsAreIdempotentAndDriveTheOperation() throws {
        let leased = try #require(TaskLifecycle.lease(task(), now: now, ttl: 30))
        let done = try #require(TaskLifecycle.finish(leased, with: .init(outcome: .succeeded), now: now))
        #expect(TaskLifecycle.finish(done, with: .init(outcome: .failed, error: "x"), now: now) == nil)
        let other = UUID()
        var operation = ZedgeCore.Operation(kind: "k", status: .queued, steps: [
            OperationStep(name: "a", weight: 3, taskId: done.id), OperationStep(name: "b", weight: 1, taskId: other),
        ], progress: 0)
        operation = TaskLifecycle.apply(done, to: operation, now: now)
        #expect(operation.progress == 75 && operation.status == .running && operation.startedAt == now)
        var failedTask = task()
        failedTask.id = other
        failedTask.status = .failed
        failedTask.error = "boom"
        operation = TaskLifecycle.apply(failedTask, to: operation, now: now)
        #expect(operation.status == .failed && operation.error == "boom" && operation.endedAt == now)
    }
}

@Suite struct TaskNotifierTests {
    @Test func wakesTheWaiterOfThatHostOnly() async throws {
        let notifier = TaskNotifier()
        let host = UUID(), other = UUID()
        async let woken: Void = notifier.wait(for: host, timeout: .seconds(30))
        async let untouched: Void = notifier.wait(for: other, timeout: .milliseconds(300))
        while notifier.waitingHosts < 2 { try await Task.sleep(for: .milliseconds(10)) }
        let start = ContinuousClock.now
        notifier.notify(host)
        await woken
        #expect(ContinuousClock.now - start < .seconds(30))  // woken, not timed out (generous: not a latency assert)
        await untouched
        #expect(notifier.waitingHosts == 0)
    }
}

extension TaskNotifierTests {
    /// A wait ends by its timeout (false: not notified), by a notify (true), or when its task is cancelled (false,
    /// long before its hour is up: the test's time limit is the check, not a wall-clock assert).
    @Test(.timeLimit(.minutes(2))) func aWaitEndsByTimeoutNotifyOrCancellation() async throws {
        let notifier = TaskNotifier()
        let host = UUID()
        let timedOut = notifier.subscribe(host)
        #expect(await timedOut.wait(timeout: .milliseconds(50)) == false)
        #expect(!timedOut.notified)
        timedOut.cancel()

        let woken = notifier.subscribe(host)
        async let result = woken.wait(timeout: .seconds(3600))
        try await Task.sleep(for: .milliseconds(50))
        notifier.notify(host)
        #expect(await result == true)
        #expect(woken.notified)
        woken.cancel()

        let cancelled = notifier.subscribe(host)
        let waiting = Task { await cancelled.wait(timeout: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == false)
        #expect(!cancelled.notified)
        cancelled.cancel()
        // A wait whose task was cancelled before it began returns at once.
        let late = notifier.subscribe(host)
        let already = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await late.wait(timeout: .seconds(3600))
        }
        #expect(await already.value == false)
        late.cancel()
        #expect(notifier.waitingHosts == 0)
    }

    /// A long-poll reads its host's agent calls only when one may wait: every host at first, then only after a
    /// call was stored for it (`notifyCall`, which also wakes its polls) or a read gave the mark back.
    @Test func aHostsPollsLookForCallsOnlyWhenOneMayWait() async {
        let notifier = TaskNotifier()
        let host = UUID(), other = UUID()
        #expect(notifier.takeCallMark(host), "nothing known yet: it may have calls")
        #expect(!notifier.takeCallMark(host), "looked: none until a call is stored")
        let subscription = notifier.subscribe(host)
        notifier.notifyCall(host)
        #expect(await subscription.wait(timeout: .seconds(3600)), "a stored call wakes the host's polls")
        subscription.cancel()
        #expect(notifier.takeCallMark(host) && !notifier.takeCallMark(host))
        notifier.markCalls(host)  // a read that failed, or one that took as many as it could
        #expect(notifier.takeCallMark(host))
        #expect(notifier.takeCallMark(other), "another host is apart")
        // A task's wake does not make a host look for calls.
        notifier.notify(host)
        #expect(!notifier.takeCallMark(host))
        let quiet = notifier.subscribe(other)
        #expect(await quiet.wait(timeout: .milliseconds(20)) == false, "timed out, not notified")
        quiet.cancel()
    }

    /// When the LISTEN for other replicas' wake-ups comes (back) into force, whatever they sent before is lost:
    /// every host may have calls again and every held poll wakes, while later polls wait as before.
    @Test(.timeLimit(.minutes(2))) func resynchronizingForgetsTheCallMarksAndWakesEveryPoll() async {
        let notifier = TaskNotifier()
        let host = UUID(), other = UUID()
        _ = notifier.takeCallMark(host)
        _ = notifier.takeCallMark(other)
        let held = [notifier.subscribe(host), notifier.subscribe(other)]
        notifier.resynchronize()
        for subscription in held {
            #expect(await subscription.wait(timeout: .seconds(3600)), "woken, not timed out")
            subscription.cancel()
        }
        #expect(notifier.takeCallMark(host) && notifier.takeCallMark(other), "a call stored meanwhile is looked for")
        #expect(!notifier.takeCallMark(host))
        let later = notifier.subscribe(host)
        #expect(await later.wait(timeout: .milliseconds(20)) == false, "a later poll is not woken by it")
        later.cancel()
    }

    /// A transaction may reserve a waiting poll to hand it the tasks it queues (`reserve`): the poll waits for the
    /// reservation to be settled even past its timeout, then has the tasks (not "notified": nothing to read back);
    /// a reservation given back (a rollback) wakes it as a notify does. A woken or reserved poll is not reserved
    /// again, a poll that is not waiting is not reserved at all, nor is a wait that takes no handed tasks.
    @Test(.timeLimit(.minutes(2))) func aReservedPollWaitsForItsTasksPastItsTimeout() async throws {
        let notifier = TaskNotifier()
        let host = UUID(), run = UUID()
        let task = AgentTask(computeMachineId: host, kind: .vmStart, payload: [:])
        let subscription = notifier.subscribe(host, handingTo: run)
        #expect(notifier.reserve(host) == nil, "subscribed, but not waiting yet (still looking)")
        // Long enough for the loop below to reserve it while it waits on a loaded machine (50 ms was not always).
        async let woken = subscription.wait(timeout: .seconds(1))
        var reservation: TaskNotifier.Reservation?
        while reservation == nil {
            reservation = notifier.reserve(host)
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(reservation?.run == run)
        #expect(notifier.reserve(host) == nil, "reserved already")
        try await Task.sleep(for: .milliseconds(1500))  // the poll's timeout passes while reserved
        reservation?.settle(handing: [task])
        #expect(await woken)
        #expect(subscription.handed.map(\.id) == [task.id] && !subscription.notified)
        subscription.cancel()

        // Given back: the poll wakes as notified, with nothing handed.
        let again = notifier.subscribe(host, handingTo: run)
        async let wokenAgain = again.wait(timeout: .seconds(3600))
        var second: TaskNotifier.Reservation?
        while second == nil {
            second = notifier.reserve(host)
            try await Task.sleep(for: .milliseconds(5))
        }
        second?.settle(handing: [])
        #expect(await wokenAgain)
        #expect(again.handed.isEmpty && again.notified)
        again.cancel()
        #expect(notifier.waitingHosts == 0)

        // A wait that does not take handed tasks (`subscribe(_:)`) is never reserved: it is only woken.
        let plain = notifier.subscribe(host)
        async let plainWoken = plain.wait(timeout: .seconds(3600))
        while notifier.waitingHosts == 0 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(notifier.reserve(host) == nil)
        notifier.notify(host)
        #expect(await plainWoken)
        #expect(plain.handed.isEmpty && plain.notified)
        plain.cancel()
    }

    /// A long-poll subscribes before it looks for tasks: a task queued between the look and the wait must
    /// wake it at once, not after its whole wait. A lost notify would wait an hour, far past the time limit
    /// (no wall-clock assert: a loaded machine may take seconds to schedule the test at all).
    @Test(.timeLimit(.minutes(2))) func aNotifyBetweenSubscribingAndWaitingIsNotLost() async {
        let notifier = TaskNotifier()
        let host = UUID()
        let subscription = notifier.subscribe(host)
        notifier.notify(host)  // the task lands while the long-poll is still reading the queue
        await subscription.wait(timeout: .seconds(3600))
        subscription.cancel()
        #expect(notifier.waitingHosts == 0)
        // Cancelled without being notified: nothing stays registered.
        notifier.subscribe(host).cancel()
        #expect(notifier.waitingHosts == 0)
    }
}

@Suite struct NotifierShutdownTests {
    @Test func closingWakesLongPollsAndEndsLaterOnesAtOnce() async {
        let notifier = TaskNotifier()
        async let waiting: Void = notifier.wait(for: UUID(), timeout: .seconds(60))
        while notifier.waitingHosts == 0 { try? await Task.sleep(for: .milliseconds(10)) }
        notifier.close()
        await waiting
        #expect(notifier.waitingHosts == 0)
        await notifier.wait(for: UUID(), timeout: .seconds(60))  // returns at once once closed
    }
}


/// `LongPollPark`'s phases: a wait handed over once, its subscription taken back once, and one left behind (its
/// request ended during the wait) cancelled by `end`.
@Suite struct LongPollParkTests {
    @Test func aWaitIsHandedOverOnceAndItsSubscriptionTakenBackOnce() async {
        let notifier = TaskNotifier()
        let host = UUID()
        let park = LongPollPark()
        #expect(park.takeWait() == nil && park.resumption == nil && !park.isHolding, "nothing held yet")
        let subscription = notifier.subscribe(host)
        let waited = Mutex(0)
        park.hold(subscription) { waited.withLock { $0 += 1 } }
        #expect(park.isHolding)
        let wait = park.takeWait()
        #expect(wait != nil && park.takeWait() == nil && !park.isHolding)
        await wait?()
        #expect(waited.withLock { $0 } == 1)
        #expect(park.resumption === subscription)
        #expect(park.resumption == nil, "taken once")
        park.end()  // the second pass took it: its handler cancels it, not `end`
        #expect(notifier.waitingHosts == 1)
        subscription.cancel()
        #expect(notifier.waitingHosts == 0)

        // Held, then the request ended (e.g. the second pass never came): `end` cancels the subscription.
        let left = LongPollPark()
        left.hold(notifier.subscribe(host)) {}
        #expect(notifier.waitingHosts == 1)
        left.end()
        #expect(notifier.waitingHosts == 0 && left.takeWait() == nil && left.resumption == nil)
    }

    /// `zedge_http_connections_open` follows the connections `ClientClosureHandler` reports: up when one opens, down once
    /// when it ends (a second end of the same connection changes nothing).
    @Test func connectionsOpenAreCounted() async throws {
        let metrics = MetricsRegistry()
        let connections = ClientConnections(metrics: metrics.replica)
        func open() async -> Double? {
            String(decoding: await metrics.exposition(), as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("zedge_http_connections_open ") }.flatMap { Double($0.dropFirst("zedge_http_connections_open ".count)) }
        }
        #expect(await open() == 0)
        let first = NSObject(), second = NSObject()
        let watch = connections.opened(ObjectIdentifier(first))
        _ = connections.opened(ObjectIdentifier(second))
        #expect(await open() == 2)
        #expect(connections.watch(ObjectIdentifier(first)) === watch)
        connections.ended(ObjectIdentifier(first))
        connections.ended(ObjectIdentifier(first))
        #expect(await open() == 1)
        #expect(connections.watch(ObjectIdentifier(first)) == nil)
        connections.ended(ObjectIdentifier(second))
        #expect(await open() == 0)
        withExtendedLifetime((first, second)) {}
    }

    /// The client leaves while its poll waits: the wait ends at once (not after its timeout), no transaction can
    /// reserve the poll any more, and the park says so to the second pass. A watch that closed before the poll
    /// registered ends the wait as soon as it registers.
    @Test func aClientThatLeavesEndsTheWait() async throws {
        let notifier = TaskNotifier()
        let host = UUID()
        let park = LongPollPark()
        let subscription = notifier.subscribe(host, handingTo: UUID())
        park.hold(subscription) { await subscription.wait(timeout: .seconds(50)) }
        let wait = try #require(park.takeWait())
        let watch = ClientConnections.Watch()
        watch.onClose { park.clientLeft() }
        #expect(!park.clientHasLeft)
        let started = ContinuousClock.now
        async let waited: Void = wait()
        try await eventually("the poll waits") { subscription.isWaiting }
        watch.close()
        await waited
        #expect(ContinuousClock.now - started < .seconds(20), "the wait ran to its timeout")
        #expect(park.clientHasLeft && watch.isClosed)
        #expect(notifier.reserve(host) == nil, "an ended poll is not reserved")
        subscription.cancel()

        // Closed before the poll registers: the action runs at once.
        let early = LongPollPark()
        let closed = ClientConnections.Watch()
        closed.close()
        let second = notifier.subscribe(host, handingTo: UUID())
        early.hold(second) { await second.wait(timeout: .seconds(50)) }
        let secondWait = try #require(early.takeWait())
        closed.onClose { early.clientLeft() }
        #expect(early.clientHasLeft)
        await secondWait()
        second.cancel()
    }
}
