import Foundation

/// Faults and races (issue #12):
///
/// - `agent_tasks.lease_holder`: the agent run (the UUID an agent process picks when it starts and sends as
///   `Zedge-Agent-Run`) a LEASED task was handed to. When a host's agent comes back as a new run, every lease
///   held by its previous runs is freed at once instead of waiting out the lease (an addition to the seed).
enum SchemaV7 {
    static let migration = Migration(version: 7, name: "faults-and-races", declared: DeclaredSchema()) { engine in
        statements(ColumnTypes(engine), engine)
    }

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        ["ALTER TABLE agent_tasks ADD COLUMN lease_holder \(t.uuid)"]
    }
}
