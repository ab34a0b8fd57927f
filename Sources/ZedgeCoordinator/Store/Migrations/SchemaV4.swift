import Foundation

/// The workload's side channels: agent calls (read-only questions a user waits on, such as a console log) and
/// which verified images each compute machine's agent holds in its cache (placement prefers those machines).
enum SchemaV4 {
    static let migration = Migration(
        version: 4, name: "agent-calls-and-cached-images", declared: schema(ColumnTypes(.sqlite), .sqlite).declared
    ) { engine in
        schema(ColumnTypes(engine), engine).finish()
    }

    static func schema(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        // A question for one agent, handed out with its long-poll and answered once; deleted once answered
        // or expired (never journaled, never retried).
        s.table("agent_calls") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .cascade)
            c.oneOf("kind", ["vm.console-log"])
            c.json("payload")
            c.oneOf("status", ["PENDING", "DELIVERED", "ANSWERED"])
            c.json("answer", .nullable)
            c.timestamp("created_at")
            c.timestamp("expires_at")
            c.index("compute_machine_id", "status")
        }
        // The SHA-256 of every verified image a compute machine's agent reported in its cache.
        s.table("host_cached_images") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .cascade)
            c.text("sha256")
            c.timestamp("reported_at")
            c.unique("compute_machine_id", "sha256")
            c.index("sha256")
        }
        return s
    }
}
