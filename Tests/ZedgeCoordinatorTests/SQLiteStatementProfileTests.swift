import Foundation
import Logging
import SQLKit
import Testing
@testable import ZedgeCoordinator

/// The writer's statement profile (`ZEDGE_SQLITE_STATEMENT_PROFILE`, issue #14): each SQL text's runs and SQLite's
/// VM steps for it, the costliest first; reads on reader connections are not in it.
@Suite("SQLite statement profile")
struct SQLiteStatementProfileTests {
    @Test func theWritersStatementsAreCountedByTextWithTheirVMSteps() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-profile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let profile = SQLiteStatementProfile()
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"),
                                    statementProfile: profile)
        try await store.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT NOT NULL)").run()
        for n in 0..<200 { try await store.raw("INSERT INTO t (tag) VALUES (\(bind: "tag-\(n)"))").run() }
        try await store.raw("UPDATE t SET tag = tag || '!'").run()  // 200 rows in one run
        _ = try await store.raw("SELECT COUNT(*) AS n FROM t").all()  // a read: on a reader, not profiled
        await store.close()

        let statements = profile.statements
        #expect(statements.count == 3, "\(statements.map(\.sql))")
        let insert = try #require(statements.first { $0.sql.hasPrefix("INSERT") })
        let update = try #require(statements.first { $0.sql.hasPrefix("UPDATE") })
        #expect(insert.entry.runs == 200 && update.entry.runs == 1)
        // One UPDATE of 200 rows takes more steps than one INSERT of a row, and fewer than all 200 INSERTs.
        #expect(update.entry.steps > insert.entry.steps / 200 * 10 && update.entry.steps < insert.entry.steps,
                "update \(update.entry), insert \(insert.entry)")
        #expect(statements.first?.sql == insert.sql, "the most steps first")
        let lines = profile.text.split(separator: "\n")
        #expect(lines.first == "runs\tvm_steps\tmicroseconds\tsql")
        #expect(lines.dropFirst().first?.hasPrefix("200\t\(insert.entry.steps)\t") == true, "\(lines)")
        #expect(!statements.contains { $0.sql.hasPrefix("SELECT") })
    }
}
