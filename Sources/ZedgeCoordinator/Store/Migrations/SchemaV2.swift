import Foundation

/// Placement and the instance lifecycle: capacity claims, group grants of templates, and when an instance
/// last started (for `timeoutS`).
enum SchemaV2 {
    static let migration = Migration(
        version: 2, name: "instances-and-claims", declared: schema(ColumnTypes(.sqlite), .sqlite).declared
    ) { engine in
        statements(ColumnTypes(engine), engine)
    }

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        schema(t, engine).finish() + [
            "ALTER TABLE instances ADD COLUMN started_at \(t.timestamp)",
            "CREATE INDEX ix_operations_resource_id_status ON operations (resource_id, status)",
            "CREATE INDEX ix_instances_compute_machine_id_status ON instances (compute_machine_id, status)",
        ]
    }

    static func schema(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        s.table("capacity_claims") { c in
            c.id()
            c.ref("instance_id", "instances", .cascade)
            c.ref("compute_machine_id", "compute_machines", .restrict)
            c.ref("resource_pool_id", "resource_pools", .restrict)
            c.integer("cpu_cores")
            c.integer("memory_gb")
            c.integer("storage_gb")
            c.integer("gpu_count")
            c.timestamp("created_at")
            c.timestamp("released_at", .nullable)
            c.index("compute_machine_id", "released_at")
        }
        s.table("template_group_grants") { c in
            c.id()
            c.ref("template_id", "templates", .cascade)
            c.ref("user_group_id", "user_groups", .cascade)
            c.timestamp("created_at")
            c.unique("template_id", "user_group_id")
        }
        // The GPUs a machine's agent reported, and the instance each is passed through to.
        s.table("machine_gpus") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .cascade)
            c.text("pci_address")
            c.text("model", .nullable)
            c.ref("instance_id", "instances", .setNull, .nullable)
            c.unique("compute_machine_id", "pci_address")
        }
        // What each compute machine's agent last reported its hypervisor holds (written with PostgreSQL, where
        // several replicas share the work; one SQLite coordinator keeps it in memory).
        s.table("host_observations") { c in
            c.id()  // the compute machine's id
            c.timestamp("observed_at")
            c.json("observed_vms")
        }
        return s
    }
}
