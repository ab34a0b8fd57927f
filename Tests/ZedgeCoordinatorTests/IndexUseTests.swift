import Foundation
import SQLKit
import Testing
@testable import ZedgeCoordinator

/// The hot lookups still use an index after `SchemaV12` made the host indexes of `agent_tasks` partial and dropped
/// `ix_instances_compute_machine_id` (each write changes fewer index pages, issue #14): a task's host lookup (`column = ?`
/// implies `column IS NOT NULL`) and an instance's machine lookup, on both engines' query plans. PostgreSQL is told to
/// avoid sequential scans so that a small table's plan still shows whether an index can serve it.
@Suite("Index use")
struct IndexUseTests {
    static let lookups: [(sql: String, index: String)] = [
        ("SELECT id FROM agent_tasks WHERE compute_machine_id = '00000000-0000-0000-0000-000000000001' AND status = 'QUEUED'",
         "ix_agent_tasks_compute_machine_id_status"),
        ("SELECT id FROM agent_tasks WHERE cloud_box_id = '00000000-0000-0000-0000-000000000001' AND status = 'LEASED'",
         "ix_agent_tasks_cloud_box_id_status"),
        ("SELECT id FROM instances WHERE compute_machine_id = '00000000-0000-0000-0000-000000000001'",
         "ix_instances_compute_machine_id_status"),
    ]

    @Test(arguments: TestEngine.allCases)
    func hostLookupsUseTheirIndexes(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            for (sql, index) in Self.lookups {
                let plan: String
                if engine == .sqlite {
                    plan = try await database.sql.raw("EXPLAIN QUERY PLAN \(unsafeRaw: sql)").all()
                        .map { try $0.decode(column: "detail", as: String.self) }.joined(separator: "\n")
                } else {
                    plan = try await database.transaction { tx in
                        try await tx.db.raw("SET LOCAL enable_seqscan = off").run()
                        return try await tx.db.raw("EXPLAIN \(unsafeRaw: sql)").all()
                            .map { try $0.decode(column: "QUERY PLAN", as: String.self) }.joined(separator: "\n")
                    }
                }
                #expect(plan.contains(index), "\(sql)\n\(plan)")
            }
            let gone = try await database.sql.raw(engine == .sqlite
                ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'ix_instances_compute_machine_id'"
                : "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'ix_instances_compute_machine_id'").first()?
                .decode(column: "n", as: Int.self)
            #expect(gone == 0)
        }
    }
}
