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
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-ops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = try await engine.makeDatabaseURL(in: directory.path)
        try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
            try await Migrator().migrate(database, logger: Logger(label: "test"))
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
    /// A typed payload is encoded once and its text stored as it is (`OperationPlan.Payload.encoded`): the row reads
    /// back as the payload, `submitWithTasks` hands back the task with it, and an untyped payload is stored as before.
    @Test(arguments: TestEngine.all)
    func aTypedPayloadIsStoredAsItsTextAndReadsBackWhole(engine: TestEngine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = try await engine.makeDatabaseURL(in: directory.path)
        try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
            try await Migrator().migrate(database, logger: Logger(label: "test"))
            let machine = try #require(try await MachineFixture.machines(1, in: Store(database: database)).first)
            let repository = SQLTaskRepository(database: database)
            let dispatcher = WorkDispatcher(transactions: Transactions(database: database), tasks: repository, notifier: TaskNotifier())

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
