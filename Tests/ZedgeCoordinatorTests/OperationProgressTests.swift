import Foundation
import Logging
import SQLKit
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// An operation's progress is written optimistically (`updateOperation`: read, change, write over the version read,
/// issue #14): changes made at once by many tasks of one operation each land, none overwrites another.
@Suite("Operation progress")
struct OperationProgressTests {
    @Test(arguments: TestEngine.all)
    func concurrentStepsEachLand(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let tasks = (0..<24).map { _ in UUID.v7() }
            let operation = ZedgeCore.Operation(kind: "test", steps: tasks.map { OperationStep(name: "step", taskId: $0) })
            try await database.transaction { tx in try await Tables.operations.insert(operation, on: tx.db) }
            let repository = SQLTaskRepository(database: database)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in tasks {
                    group.addTask {
                        let task = AgentTask(id: id, operationId: operation.id, kind: .vmStart, payload: .object([:]), status: .succeeded)
                        try await repository.updateOperation(operation.id) { TaskLifecycle.apply(task, to: $0, now: Date()) }
                    }
                }
                try await group.waitForAll()
            }
            let stored = try #require(try await repository.operation(operation.id))
            #expect(stored.steps.allSatisfy { $0.status == .succeeded }, "\(stored.steps.map(\.status))")
            #expect(stored.status == .succeeded && stored.progress == 100)
            #expect(stored.request == nil && stored.kind == "test")
            let version = try await database.sql.raw("SELECT version FROM operations WHERE id = \(bind: operation.id)").first()?
                .decode(column: "version", as: Int.self)
            #expect(version == tasks.count)
        }
    }
    /// A machine to queue tasks for, the task repository and a dispatcher over `database`.
    static func queue(on database: Database) async throws -> (machine: ComputeMachine, repository: SQLTaskRepository,
                                                              dispatcher: WorkDispatcher) {
        let machine = try #require(try await MachineFixture.machines(1, in: Store(database: database)).first)
        let repository = SQLTaskRepository(database: database)
        return (machine, repository, WorkDispatcher(transactions: Transactions(database: database), tasks: repository, notifier: TaskNotifier()))
    }

    /// A task's change and its operation's progress are one transaction (`update(_:expecting:advancing:)`): tasks of
    /// one operation finishing at once each land with their step, none twice; when the operation moved under one, its
    /// transaction rolls back, task and all, and is tried again (a task written but its step lost would make the retry
    /// find the task no longer LEASED, and answer false). A task another writer won writes nothing, its operation
    /// included; so does a lease held by another run.
    @Test(arguments: TestEngine.all)
    func aTaskAndItsOperationsProgressAreWrittenTogether(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let (machine, repository, dispatcher) = try await Self.queue(on: database)
            var plan = OperationPlan(kind: "test", userId: nil, resourceType: "instance", resourceId: nil, request: nil)
            for n in 0..<16 {
                plan.task(.vmStart, for: .computeMachine(machine.id), payload: ["vmUuid": .string(UUID().uuidString), "vmName": .string("vm-\(n)")])
            }
            let operation = try await dispatcher.submit(plan)
            let run = UUID(), now = Date()
            let leased = try await repository.lease(computeMachineId: machine.id, cloudBoxId: nil, limit: 16,
                                                    { TaskLifecycle.lease($0, now: now, ttl: 60, holder: run) },
                                                    operation: { TaskLifecycle.apply($0, to: $1, now: now) })
            #expect(leased.count == 16)
            func version() async throws -> Int? {
                try await database.sql.raw("SELECT version FROM operations WHERE id = \(bind: operation.id)").first()?
                    .decode(column: "version", as: Int.self)
            }
            let leasedVersion = try await version()

            // Another run's lease is not this run's to finish: nothing written.
            let first = try #require(leased.first)
            let stray = try #require(TaskLifecycle.finish(first, with: TaskResultReport(outcome: .succeeded), now: now))
            #expect(try await !repository.update(stray, expecting: .leased, holder: UUID()) { TaskLifecycle.apply(stray, to: $0, now: now) })
            #expect(try await version() == leasedVersion)

            let written = try await withThrowingTaskGroup(of: Bool.self) { group in
                for task in leased {
                    group.addTask {
                        let finished = try #require(TaskLifecycle.finish(task, with: TaskResultReport(outcome: .succeeded), now: now))
                        return try await repository.update(finished, expecting: .leased, holder: run) { TaskLifecycle.apply(finished, to: $0, now: now) }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(written == Array(repeating: true, count: 16))
            let stored = try #require(try await repository.operation(operation.id))
            #expect(stored.steps.allSatisfy { $0.status == .succeeded } && stored.status == .succeeded && stored.progress == 100,
                    "\(stored.steps.map(\.status))")
            #expect(try await version() == leasedVersion.map { $0 + 16 })
            #expect(try await repository.tasks(operationId: operation.id).allSatisfy { $0.status == .succeeded })

            // A second result for a task already finished: the task is no longer LEASED, and nothing is written.
            let again = try #require(TaskLifecycle.finish(first, with: TaskResultReport(outcome: .failed, error: "late"), now: now))
            #expect(try await !repository.update(again, expecting: .leased) { TaskLifecycle.apply(again, to: $0, now: now) })
            #expect(try await version() == leasedVersion.map { $0 + 16 })
            #expect(try await repository.operation(operation.id)?.status == .succeeded)
        }
    }

    /// A typed payload is encoded once and its text stored as it is (`OperationPlan.Payload.encoded`): the row reads
    /// back as the payload, `submitWithTasks` hands back the task with it, and an untyped payload is stored as before.
    @Test(arguments: TestEngine.all)
    func aTypedPayloadIsStoredAsItsTextAndReadsBackWhole(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let (machine, repository, dispatcher) = try await Self.queue(on: database)

            let stop = VmStopPayload(vmUuid: UUID(), vmName: "vm-ü \"quoted\"", timeoutS: 90)
            let expected = try JSONValue(encoding: stop)
            var plan = OperationPlan(kind: "test", userId: nil, resourceType: "instance", resourceId: nil, request: nil)
            try plan.task(.vmStop, for: .computeMachine(machine.id), typed: stop)
            plan.task(.vmStart, for: .computeMachine(machine.id), payload: ["vmUuid": .string(UUID().uuidString), "vmName": "vm-x"])
            let (operation, tasks) = try await dispatcher.submitWithTasks(plan)
            #expect(tasks.count == 2)
            #expect(tasks.first?.payload == expected)
            for task in tasks {
                let stored = try #require(try await repository.find(task.id))
                #expect(stored.payload == task.payload && stored.operationId == operation.id, "\(task.kind)")
            }

            // `submit` (no tasks handed back) stores the same.
            var single = OperationPlan(kind: "test", userId: nil, resourceType: "instance", resourceId: nil, request: nil)
            try single.task(.vmStop, for: .computeMachine(machine.id), typed: stop)
            let submitted = try await dispatcher.submit(single)
            let queued = try await repository.tasks(operationId: submitted.id)
            #expect(queued.map(\.payload) == [expected])
            #expect(try queued.first?.payload.decode(as: VmStopPayload.self) == stop)
        }
    }
}

extension OperationProgressTests {
    /// A host's long-poll waits here: the transaction that queues tasks for it writes them leased to the poll's run
    /// (for the delivery window) and hands them over after commit, payloads as stored; another host's task is
    /// queued as before. A transaction that rolls back hands nothing and wakes the poll to look for itself.
    @Test(arguments: TestEngine.all)
    func aWaitingPollIsHandedItsTasksLeasedByTheTransactionThatQueuesThem(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let machines = try await MachineFixture.machines(2, in: Store(database: database))
            let (host, other) = (machines[0].id, machines[1].id)
            let repository = SQLTaskRepository(database: database)
            let notifier = TaskNotifier()
            let dispatcher = WorkDispatcher(transactions: Transactions(database: database), tasks: repository, notifier: notifier,
                                            handoffTTL: 30)
            let run = UUID()
            let now = Date(timeIntervalSince1970: 1_800_000_000)

            let subscription = notifier.subscribe(host, handingTo: run)
            async let woken = subscription.wait(timeout: .seconds(3600))
            try await eventually("the poll waits") { subscription.isWaiting }
            let stop = VmStopPayload(vmUuid: UUID(), vmName: "vm-handed", timeoutS: 90)
            var plan = OperationPlan(kind: "test", userId: nil, resourceType: "instance", resourceId: nil, request: nil)
            try plan.task(.vmStop, for: .computeMachine(host), typed: stop)
            plan.task(.vmStart, for: .computeMachine(other), payload: ["vmUuid": .string(UUID().uuidString), "vmName": "vm-x"])
            let operation = try await dispatcher.submit(plan, now: now)
            #expect(await woken)
            let handed = subscription.handed
            subscription.cancel()
            #expect(handed.count == 1 && !subscription.notified)
            let stored = try await repository.tasks(operationId: operation.id)
            let mine = try #require(stored.first { $0.computeMachineId == host })
            let theirs = try #require(stored.first { $0.computeMachineId == other })
            #expect(mine.status == .leased && mine.leaseHolder == run && mine.attempts == 1)
            #expect(mine.leaseExpiresAt == now.addingTimeInterval(30))
            #expect(handed.first?.id == mine.id && handed.first?.payload == mine.payload && handed.first?.leaseHolder == run)
            #expect(try handed.first?.payload.decode(as: VmStopPayload.self) == stop)
            #expect(theirs.status == .queued && theirs.leaseHolder == nil, "no poll of that host waits")
            let storedOperation = try #require(try await repository.operation(operation.id))
            #expect(storedOperation.status == .running && operation.status == .running)

            // Rolled back: nothing handed, nothing stored, and the poll wakes to look for itself.
            let next = notifier.subscribe(host, handingTo: run)
            async let wokenAgain = next.wait(timeout: .seconds(3600))
            try await eventually("the poll waits") { next.isWaiting }
            struct Refused: Error {}
            var refusing = OperationPlan(kind: "test", userId: nil, resourceType: "instance", resourceId: nil, request: nil)
            refusing.task(.vmStart, for: .computeMachine(host), payload: ["vmUuid": .string(UUID().uuidString), "vmName": "vm-y"])
            let refused = refusing
            await #expect(throws: Refused.self) {
                try await dispatcher.transaction { _, submissions in
                    try await submissions.submit(refused, now: now)
                    throw Refused()
                }
            }
            #expect(await wokenAgain)
            #expect(next.handed.isEmpty && next.notified)
            next.cancel()
            #expect(try await repository.queued(computeMachineId: host, cloudBoxId: nil, limit: 10).isEmpty)

            // No more than one poll's answer is handed over (`TaskQueue.tasksPerPoll`): the rest is queued, and the
            // poll is also told to look (it has no room left this time; the agent's next poll takes them).
            let busy = notifier.subscribe(host, handingTo: run)
            async let wokenBusy = busy.wait(timeout: .seconds(3600))
            try await eventually("the poll waits") { busy.isWaiting }
            var many = OperationPlan(kind: "test", userId: nil, resourceType: "instance", resourceId: nil, request: nil)
            for index in 0...TaskQueue.tasksPerPoll {
                many.task(.vmStart, for: .computeMachine(host), payload: ["vmUuid": .string(UUID().uuidString), "vmName": .string("vm-\(index)")])
            }
            let manyOperation = try await dispatcher.submit(many, now: now)
            #expect(await wokenBusy)
            #expect(busy.handed.count == TaskQueue.tasksPerPoll && busy.notified)
            busy.cancel()
            let all = try await repository.tasks(operationId: manyOperation.id)
            #expect(all.filter { $0.status == .leased }.count == TaskQueue.tasksPerPoll && all.filter { $0.status == .queued }.count == 1)
        }
    }
}
