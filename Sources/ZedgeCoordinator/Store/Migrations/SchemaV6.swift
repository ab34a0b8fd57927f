import Foundation

/// Private data disks on Ceph RBD (issue #11):
///
/// - a STORAGE resource pool's Ceph cluster (`resource_pools.storage_config`: monitors, RBD pool, cephx user);
/// - its cephx key apart from the data, in `storage_pool_secrets` (one row per pool, never in a JSON column,
///   never returned; DESIGN §2 "secrets apart from data");
/// - a disk names its STORAGE pool (`private_data_disks.storage_pool_id`, an addition to the seed) and says why
///   it is in ERROR (`error`); an attachment says why it FAILED (`error`);
enum SchemaV6 {
    static let migration = Migration(
        version: 6, name: "private-data-disks", declared: schema(ColumnTypes(.sqlite), .sqlite).declared
    ) { engine in
        statements(ColumnTypes(engine), engine)
    }

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        schema(t, engine).finish() + [
            "ALTER TABLE resource_pools ADD COLUMN storage_config \(t.json)",
            // No foreign key: SQLite adds one to an existing table only by rebuilding it. The resource pool's DELETE
            // refuses a STORAGE pool that disks still name (`DiskRepository.count(storagePoolId:)`).
            "ALTER TABLE private_data_disks ADD COLUMN storage_pool_id \(t.uuid)",
            "ALTER TABLE private_data_disks ADD COLUMN error \(t.text)",
            "ALTER TABLE instance_private_data_disk_attachments ADD COLUMN error \(t.text)",
            "CREATE INDEX ix_private_data_disks_storage_pool_id ON private_data_disks (storage_pool_id)",
        ]
    }

    static func schema(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        // The cephx key of a STORAGE pool, read only when an agent leases a task that needs it.
        s.table("storage_pool_secrets") { c in
            c.id()
            c.ref("resource_pool_id", "resource_pools", .cascade)
            c.text("ceph_key")
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("resource_pool_id")
        }
        return s
    }
}
