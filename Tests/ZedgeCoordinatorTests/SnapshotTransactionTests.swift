import Foundation
import SQLKit
import Testing
@testable import ZedgeCoordinator

/// `Database.transaction(snapshot:)`: every read of a snapshot transaction sees the same rows while other
/// connections commit (the consistency check compares the quota counters with a recount in two reads; on
/// PostgreSQL's READ COMMITTED a delete committed between them failed the coordinator kill loop in CI). A SQLite
/// transaction holds the one writer, so nothing commits during it (`SQLiteWriterTests`).
@Suite("Snapshot transactions")
struct SnapshotTransactionTests {
    static func count(_ db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM quota_usages").first()?.decode(column: "n", as: Int.self) ?? -1
    }

    static func insert(_ db: any SQLDatabase) async throws {
        try await db.raw("INSERT INTO quota_usages (owner_type, owner_id) VALUES ('USER', \(bind: UUID()))").run()
    }

    /// PostgreSQL: a row committed by another connection between two reads is in the second read of a plain
    /// transaction (READ COMMITTED: the failure this guards against) and not in a snapshot's.
    @Test func aSnapshotSeesOneViewWhileAnotherConnectionCommits() async throws {
        try await TestEngine.postgres.withMigratedDatabase { database in
            let plain = try await database.transaction { tx in
                let before = try await Self.count(tx.db)
                try await Self.insert(database.sql)
                return (before, try await Self.count(tx.db))
            }
            #expect(plain.0 == 0 && plain.1 == 1, "READ COMMITTED reads again: \(plain)")

            let snapshot = try await database.transaction(snapshot: true) { tx in
                let before = try await Self.count(tx.db)
                try await Self.insert(database.sql)
                return (before, try await Self.count(tx.db))
            }
            #expect(snapshot.0 == 1 && snapshot.1 == 1, "a snapshot transaction saw another's commit: \(snapshot)")
            #expect(try await Self.count(database.sql) == 2)
        }
    }
}
