import Foundation
import Logging
import NIOPosix
import SQLiteKit
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
            #expect(PooledSQLiteDatabase.isRead(read), "\(read)")
        }
        for write in ["INSERT INTO t VALUES (1)", "UPDATE t SET a = 1 RETURNING id", "WITH x AS (SELECT 1) DELETE FROM t",
                      "PRAGMA foreign_keys = ON", "BEGIN IMMEDIATE", "SELECTED", "SELECT", ""] {
            #expect(!PooledSQLiteDatabase.isRead(write), "\(write)")
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
            let readers = EventLoopConnectionPool(
                source: SQLiteFileSource(path: "\(directory.path)/db.sqlite", readOnly: true), maxConnections: 1,
                requestTimeout: .seconds(10), logger: Logger(label: "test"), on: MultiThreadedEventLoopGroup.singleton.any())
            let refused = await #expect(throws: (any Error).self) {
                try await readers.withConnection { $0.query("INSERT INTO t (v) VALUES ('c')", []) }.get()
            }
            #expect(String(describing: refused).contains("readonly") || String(describing: refused).contains("read-only")
                    || String(describing: refused).contains("query_only"), "\(String(describing: refused))")
            try await readers.close().get()
            #expect(try await count() == 2)
        }
    }
}
