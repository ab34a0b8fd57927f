import Foundation

/// Consoles for people (issue #16), part one: `agent_calls.kind` also takes `vm.console-open` and
/// `vm.graphics-password`. PostgreSQL swaps
/// the CHECK constraint; SQLite, which cannot, rebuilds the table (its documented procedure, as SchemaV5 does).
enum SchemaV10 {
    static let migration = Migration(
        version: 10, name: "agent-calls-console-open", declared: DeclaredSchema(), rebuildsTables: true
    ) { engine in
        statements(ColumnTypes(engine), engine)
    }

    static let callKinds = ["vm.console-log", "vm.console-open", "vm.graphics-password"]

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        let kinds = callKinds.map { "'\($0)'" }.joined(separator: ", ")
        switch engine {
        case .postgres:
            return ["ALTER TABLE agent_calls DROP CONSTRAINT ck_agent_calls_kind",
                    "ALTER TABLE agent_calls ADD CONSTRAINT ck_agent_calls_kind CHECK (kind IN (\(kinds)))"]
        case .sqlite:
            var rebuilt = agentCalls(t, engine).finish()
            rebuilt[0] = rebuilt[0].replacingOccurrences(of: "CREATE TABLE agent_calls (", with: "CREATE TABLE agent_calls_v10 (")
            let columns = "id, compute_machine_id, kind, payload, status, answer, created_at, expires_at"
            return [rebuilt[0],
                    "INSERT INTO agent_calls_v10 (\(columns)) SELECT \(columns) FROM agent_calls",
                    "DROP TABLE agent_calls",
                    "ALTER TABLE agent_calls_v10 RENAME TO agent_calls"]
                + rebuilt.dropFirst()
        }
    }

    /// `agent_calls` as SchemaV4 made it, with the new kind.
    static func agentCalls(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        s.table("agent_calls") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .cascade)
            c.oneOf("kind", callKinds)
            c.json("payload")
            c.oneOf("status", ["PENDING", "DELIVERED", "ANSWERED"])
            c.json("answer", .nullable)
            c.timestamp("created_at")
            c.timestamp("expires_at")
            c.index("compute_machine_id", "status")
        }
        return s
    }
}
