import Foundation

/// Tenant networks (issue #10):
///
/// - A DELETED VPC's name can be reused: the seed's UNIQUE(tenant_id, name) on `vpcs` becomes a partial unique
///   index over the VPCs that are not DELETED. PostgreSQL drops the constraint; SQLite, which cannot drop one,
///   rebuilds the table (its documented procedure, run with foreign keys off: see `Migration.rebuildsTables`).
/// - IPAM reads a subnet's held addresses (`subnet_id, status`) and the sweeper finds lapsed leases and
///   finished freezes (`status, lease_expires_at`).
enum SchemaV5 {
    static let migration = Migration(
        version: 5, name: "networks", declared: DeclaredSchema(), rebuildsTables: true
    ) { engine in
        statements(ColumnTypes(engine), engine)
    }

    static let liveVpcNames = "CREATE UNIQUE INDEX uq_vpcs_tenant_id_name_live ON vpcs (tenant_id, name) WHERE status <> 'DELETED'"

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        let indexes = [
            "CREATE INDEX ix_ip_addresses_subnet_id_status ON ip_addresses (subnet_id, status)",
            "CREATE INDEX ix_ip_addresses_status_lease_expires_at ON ip_addresses (status, lease_expires_at)",
            "CREATE INDEX ix_ip_addresses_mac_address ON ip_addresses (mac_address)",
        ]
        switch engine {
        case .postgres:
            return ["ALTER TABLE vpcs DROP CONSTRAINT uq_vpcs_tenant_id_name", liveVpcNames,
                    "CREATE INDEX ix_vpcs_tenant_id ON vpcs (tenant_id)"] + indexes
        case .sqlite:
            var rebuilt = vpcs(t, engine).finish()
            // The first statement creates the table; create it under a new name, then swap.
            rebuilt[0] = rebuilt[0].replacingOccurrences(of: "CREATE TABLE vpcs (", with: "CREATE TABLE vpcs_v5 (")
            let columns = vpcColumns.joined(separator: ", ")
            return [rebuilt[0],
                    "INSERT INTO vpcs_v5 (\(columns)) SELECT \(columns) FROM vpcs",
                    "DROP TABLE vpcs",
                    "ALTER TABLE vpcs_v5 RENAME TO vpcs"]
                + rebuilt.dropFirst() + [liveVpcNames] + indexes
        }
    }

    static let vpcColumns = [
        "id", "name", "description", "tenant_id", "user_id", "cidr_block", "edge_data_center_id", "vlan_id", "enable_dns",
        "dns_servers", "status", "created_at", "updated_at", "created_by", "updated_by",
    ]

    /// `vpcs` as SchemaV1 made it, without UNIQUE(tenant_id, name).
    static func vpcs(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        s.table("vpcs") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("user_id", "users", .restrict)
            c.text("cidr_block")
            c.ref("edge_data_center_id", "edge_data_centers", .setNull, .nullable)
            c.integer("vlan_id", .nullable)
            c.bool("enable_dns", default: "TRUE")
            c.json("dns_servers", .nullable)
            c.oneOf("status", ["ACTIVE", "DISABLED", "DELETED"])
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.ref("updated_by", "users", .setNull, .nullable)
        }
        return s
    }
}
