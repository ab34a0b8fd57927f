import Foundation

/// Consoles for people (issue #16), part two, an addition to the seed: `console_sessions`, a console a user asked
/// for (`POST /api/v1/instances/{id}/console`). Its token is stored only as a SHA-256 hash and is spent by the first
/// WebSocket that presents it before `expires_at` (`used_at`); `ended_at` is set when the tunnel closes. A CloudBox
/// binding's session names the box (`cloud_box_id`), lasts as long as the binding, and its client authenticates to
/// the VM's VNC server with the binding's ticket; `user_id` is who asked (none for the reconciler). The VM's
/// name and UUID are kept so that opening the tunnel reads nothing else. Any replica may spend the token: the
/// replica that does asks the agent to dial it.
enum SchemaV11 {
    static let migration = Migration(
        version: 11, name: "console-sessions", declared: sessions(ColumnTypes(.sqlite), .sqlite).declared
    ) { engine in
        sessions(ColumnTypes(engine), engine).finish()
    }

    static func sessions(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        s.table("console_sessions") { c in
            c.id()
            c.ref("instance_id", "instances", .cascade)
            c.ref("compute_machine_id", "compute_machines", .cascade)
            c.uuid("tenant_id")
            c.uuid("user_id", .nullable)
            c.ref("cloud_box_id", "cloud_boxes", .cascade, .nullable)
            c.oneOf("type", ["vnc", "serial"])
            c.text("token_hash")
            c.text("vm_uuid")
            c.text("vm_name")
            c.timestamp("created_at")
            c.timestamp("expires_at")
            c.timestamp("used_at", .nullable)
            c.timestamp("ended_at", .nullable)
            c.unique("token_hash")
            c.index("expires_at")
        }
        return s
    }
}
