import Foundation

/// Fewer index pages written per change (issue #14): each commit appends every page it changed to SQLite's WAL, and an
/// index is one more page per row written.
///
/// - `ix_instances_compute_machine_id` goes: `ix_instances_compute_machine_id_status` leads with the same column and
///   serves every lookup it served, the foreign key's checks included.
/// - A task names either a ComputeMachine or a CloudBox, so half of each pair of host indexes of `agent_tasks` held
///   only NULLs, and every task written moved an entry there. They become partial (`WHERE … IS NOT NULL`); each
///   lookup by host (`column = ?`) implies the condition, so SQLite and PostgreSQL still use them.
enum SchemaV12 {
    static let migration = Migration(version: 12, name: "fewer-index-pages", declared: DeclaredSchema()) { _ in
        [
            "DROP INDEX ix_instances_compute_machine_id",
            "DROP INDEX ix_agent_tasks_compute_machine_id_status",
            "CREATE INDEX ix_agent_tasks_compute_machine_id_status ON agent_tasks (compute_machine_id, status) WHERE compute_machine_id IS NOT NULL",
            "DROP INDEX ix_agent_tasks_cloud_box_id_status",
            "CREATE INDEX ix_agent_tasks_cloud_box_id_status ON agent_tasks (cloud_box_id, status) WHERE cloud_box_id IS NOT NULL",
        ]
    }
}
