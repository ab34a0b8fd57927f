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
}
