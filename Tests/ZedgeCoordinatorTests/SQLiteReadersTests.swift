import Foundation
import Logging
import SQLKit
import Testing
@testable import ZedgeCoordinator

/// SQLite's plain SELECTs run on reader connections, everything else on the one writer (issue #14). Reads see
/// every write committed before them; a transaction sees its own writes and no reader sees them before COMMIT;
/// a reader refuses to write.
@Suite("SQLite readers")
struct SQLiteReadersTests {
    @Test func onlyPlainSelectsAreReads() {
        for read in ["SELECT 1", "select * from t", "  \n\tSELECT(1)", "Select\nid FROM t"] {
            #expect(SQLiteStore.isRead(read), "\(read)")
        }
        for write in ["INSERT INTO t VALUES (1)", "UPDATE t SET a = 1 RETURNING id", "WITH x AS (SELECT 1) DELETE FROM t",
                      "PRAGMA foreign_keys = ON", "BEGIN IMMEDIATE", "SELECTED", "SELECT", ""] {
            #expect(!SQLiteStore.isRead(write), "\(write)")
        }
    }

    @Test func readsSeeCommittedWritesAndATransactionItsOwn() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-readers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Database.withDatabase(url: "sqlite://\(directory.path)/db.sqlite", logger: Logger(label: "test")) { database in
            let sql = database.sql
            try await sql.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").run()
            @Sendable func count() async throws -> Int {
                try await sql.raw("SELECT COUNT(*) AS n FROM t").first()?.decode(column: "n", as: Int.self) ?? -1
            }
            // A write outside a transaction is seen by the next read (a reader connection).
            try await sql.raw("INSERT INTO t (v) VALUES ('a')").run()
            #expect(try await count() == 1)

            // Inside a transaction its own SELECT sees its insert; a reader outside does not until COMMIT.
            let seen = try await database.transaction { tx in
                try await tx.db.raw("INSERT INTO t (v) VALUES ('b')").run()
                let inside = try await tx.db.raw("SELECT COUNT(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
                let outside = try await count()
                return (inside, outside)
            }
            #expect(seen.0 == 2 && seen.1 == 1, "inside \(String(describing: seen.0)), outside \(seen.1)")
            #expect(try await count() == 2)

            // A reader's connection refuses to write (query_only), whatever reaches it.
            let reader = try SQLiteHandle(path: "\(directory.path)/db.sqlite", readOnly: true)
            let refused = #expect(throws: SQLiteStoreError.self) {
                try reader.run("INSERT INTO t (v) VALUES ('c')", []) { _, _ in }
            }
            #expect(refused?.message.contains("readonly") == true || refused?.message.contains("read-only") == true
                    || refused?.message.contains("query_only") == true, "\(String(describing: refused))")
            reader.close()
            #expect(try await count() == 2)
        }
    }

    /// The writer runs one transaction at a time, whoever asks (a read-modify-write of one row by 40 concurrent
    /// transactions loses no increment); a write made outside the transaction that holds the writer fails at once
    /// instead of waiting for itself; more distinct statements than the connection keeps prepared still run.
    @Test func theWriterIsOneCallerAtATime() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Database.withDatabase(url: "sqlite://\(directory.path)/db.sqlite", logger: Logger(label: "test")) { database in
            try await database.sql.raw("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)").run()
            try await database.sql.raw("INSERT INTO counter (id, n) VALUES (1, 0)").run()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await database.transaction { tx in
                            let n = try await tx.db.raw("SELECT n FROM counter WHERE id = 1").first()?.decode(column: "n", as: Int.self) ?? -1
                            await Task.yield()
                            try await tx.db.raw("UPDATE counter SET n = \(bind: n + 1) WHERE id = 1").run()
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await database.sql.raw("SELECT n FROM counter WHERE id = 1").first()?.decode(column: "n", as: Int.self) == 40)

            await #expect(throws: SQLiteStoreError.self) {
                try await database.transaction { _ in try await database.sql.raw("UPDATE counter SET n = 0").run() }
            }
            // A transaction opened inside one fails too (it would wait for itself, and every write behind it).
            await #expect(throws: SQLiteStoreError.self) {
                try await database.transaction { _ in try await database.transaction { _ in } }
            }
            #expect(try await database.sql.raw("SELECT n FROM counter WHERE id = 1").first()?.decode(column: "n", as: Int.self) == 40)

            let distinct = SQLiteHandle.cacheLimit + 50
            let sums = try await database.transaction { tx in
                var sums: [Int] = []
                for k in 0..<distinct {
                    sums.append(try await tx.db.raw("SELECT n + \(unsafeRaw: String(k)) AS v FROM counter WHERE id = 1").first()?.decode(column: "v", as: Int.self) ?? -1)
                }
                return sums
            }
            #expect(sums == (0..<distinct).map { 40 + $0 })
        }
    }
}
