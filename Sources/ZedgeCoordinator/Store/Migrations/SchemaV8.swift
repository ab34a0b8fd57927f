import Foundation

/// Quota usage kept as counters (issue #14: a create's quota check summed every live claim and counted every
/// instance of its tenant, inside the transaction that holds SQLite's one writer: 3.3 ms at 3,000 instances, and
/// growing with them).
///
/// `quota_usages` holds, per user and per tenant, what DESIGN §2's quota counts: the live claims' resources
/// (`capacity_claims` with `released_at` NULL, by their instance's owner), the instances not DELETED, and the
/// private data disks with their size. A group's usage is the sum of its members' rows. Triggers keep the rows
/// exact in the same transaction as every change of those tables, whichever code path makes it (an addition to the
/// seed; the approach of Cinder's `quota_usages`, without its reservations: the check and the change share one
/// transaction here). The migration fills them from the rows that exist. `GET /api/v1/admin/consistency` recounts
/// them ("QUOTA_USAGE").
///
/// `operations.version`: a count of the changes of an operation's progress, so that a change is written only over
/// the version it was computed from (`SQLTaskRepository.updateOperation`, optimistic: the writer is held for one
/// UPDATE). An addition to the seed.
enum SchemaV8 {
    static let migration = Migration(version: 8, name: "quota-usage-counters-and-operation-versions", declared: DeclaredSchema()) { engine in
        statements(ColumnTypes(engine), engine)
    }

    /// The counters, in column order.
    static let counters = ["cpu_cores", "memory_gb", "storage_gb", "gpu_count", "instances", "disks", "disk_gb"]

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        let columns = counters.map { "\($0) \(t.integer) NOT NULL DEFAULT 0" }.joined(separator: ", ")
        return [
            "CREATE TABLE quota_usages (owner_type \(t.text) NOT NULL CHECK (owner_type IN ('USER', 'TENANT')), "
                + "owner_id \(t.uuid) NOT NULL, \(columns), PRIMARY KEY (owner_type, owner_id))",
            backfill,
            "ALTER TABLE operations ADD COLUMN version \(t.integer) NOT NULL DEFAULT 0",
        ] + (engine == .sqlite ? sqliteTriggers : postgresTriggers)
    }

    /// What the rows that exist hold, per owner: `owner_type`, `owner_id` and each counter (the backfill, and what
    /// the consistency check compares the counters with).
    static var recount: String {
        let parts = [("USER", "user_id"), ("TENANT", "tenant_id")].flatMap { type, column in [
            "SELECT '\(type)' AS owner_type, i.\(column) AS owner_id, c.cpu_cores AS cpu_cores, c.memory_gb AS memory_gb, "
                + "c.storage_gb AS storage_gb, c.gpu_count AS gpu_count, 0 AS instances, 0 AS disks, 0 AS disk_gb "
                + "FROM capacity_claims c JOIN instances i ON i.id = c.instance_id WHERE c.released_at IS NULL",
            "SELECT '\(type)', \(column), 0, 0, 0, 0, 1, 0, 0 FROM instances WHERE status <> 'DELETED'",
            "SELECT '\(type)', \(column), 0, 0, 0, 0, 0, 1, size_gb FROM private_data_disks",
        ] }
        return "SELECT owner_type, owner_id, \(counters.map { "CAST(SUM(\($0)) AS BIGINT) AS \($0)" }.joined(separator: ", ")) FROM ("
            + parts.joined(separator: " UNION ALL ") + ") counted GROUP BY owner_type, owner_id"
    }

    static var backfill: String {
        "INSERT INTO quota_usages (owner_type, owner_id, \(counters.joined(separator: ", "))) " + recount
    }

    /// Adds `values` (SQL expressions, one per counter; negate for a subtraction) to the rows of the user and the
    /// tenant that `user` and `tenant` name, when `condition` holds; `from` is what they are read from.
    static func add(_ values: [String], user: String, tenant: String, from: String? = nil, when condition: String) -> String {
        let list = values.joined(separator: ", ")
        let source = from.map { " FROM \($0)" } ?? ""
        return """
            INSERT INTO quota_usages (owner_type, owner_id, \(counters.joined(separator: ", ")))
            SELECT 'USER', \(user), \(list)\(source) WHERE \(condition)
            UNION ALL SELECT 'TENANT', \(tenant), \(list)\(source) WHERE \(condition)
            ON CONFLICT (owner_type, owner_id) DO UPDATE SET
            \(counters.map { "\($0) = quota_usages.\($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }

    /// A claim's resources (`row`: NEW or OLD), signed.
    static func claim(_ row: String, _ sign: String) -> [String] {
        ["cpu_cores", "memory_gb", "storage_gb", "gpu_count"].map { "\(sign)\(row).\($0)" } + ["0", "0", "0"]
    }

    /// An instance's live claims and the instance itself (`row`), signed.
    static func instance(_ row: String, _ sign: String) -> [String] {
        ["cpu_cores", "memory_gb", "storage_gb", "gpu_count"].map {
            "\(sign)(SELECT COALESCE(SUM(\($0)), 0) FROM capacity_claims WHERE instance_id = \(row).id AND released_at IS NULL)"
        } + ["\(sign)(CASE WHEN \(row).status <> 'DELETED' THEN 1 ELSE 0 END)", "0", "0"]
    }

    /// A disk (`row`), signed.
    static func disk(_ row: String, _ sign: String) -> [String] {
        ["0", "0", "0", "0", "0", "\(sign)1", "\(sign)\(row).size_gb"]
    }

    /// The statements each table's triggers run, by event, on a row NEW or OLD.
    static func claimChange(_ row: String, _ sign: String) -> String {
        add(claim(row, sign), user: "i.user_id", tenant: "i.tenant_id", from: "instances i",
            when: "i.id = \(row).instance_id AND \(row).released_at IS NULL")
    }

    static func instanceChange(_ row: String, _ sign: String) -> String {
        add(instance(row, sign), user: "\(row).user_id", tenant: "\(row).tenant_id", when: "1 = 1")
    }

    static func diskChange(_ row: String, _ sign: String) -> String {
        add(disk(row, sign), user: "\(row).user_id", tenant: "\(row).tenant_id", when: "1 = 1")
    }

    /// An instance's update moves counters only when it becomes DELETED (or comes back) or changes owner; status
    /// changes between live states (most of them) write nothing.
    static func instanceMoves(distinct: String) -> String {
        "(OLD.status = 'DELETED') \(distinct) (NEW.status = 'DELETED') OR OLD.user_id \(distinct) NEW.user_id "
            + "OR OLD.tenant_id \(distinct) NEW.tenant_id"
    }

    static func diskMoves(distinct: String) -> String {
        "OLD.size_gb \(distinct) NEW.size_gb OR OLD.user_id \(distinct) NEW.user_id OR OLD.tenant_id \(distinct) NEW.tenant_id"
    }

    /// A claim that cascades away with its instance finds no instance: the instance's BEFORE DELETE trigger has
    /// taken its claims off already.
    static let sqliteTriggers: [String] = [
        "CREATE TRIGGER tr_quota_usages_claim_insert AFTER INSERT ON capacity_claims BEGIN \(claimChange("NEW", "")); END",
        "CREATE TRIGGER tr_quota_usages_claim_update AFTER UPDATE ON capacity_claims BEGIN "
            + "\(claimChange("OLD", "-")); \(claimChange("NEW", "")); END",
        "CREATE TRIGGER tr_quota_usages_claim_delete AFTER DELETE ON capacity_claims BEGIN \(claimChange("OLD", "-")); END",
        "CREATE TRIGGER tr_quota_usages_instance_insert AFTER INSERT ON instances BEGIN \(instanceChange("NEW", "")); END",
        "CREATE TRIGGER tr_quota_usages_instance_update AFTER UPDATE OF status, user_id, tenant_id ON instances "
            + "WHEN \(instanceMoves(distinct: "IS NOT")) BEGIN \(instanceChange("OLD", "-")); \(instanceChange("NEW", "")); END",
        "CREATE TRIGGER tr_quota_usages_instance_delete BEFORE DELETE ON instances BEGIN \(instanceChange("OLD", "-")); END",
        "CREATE TRIGGER tr_quota_usages_disk_insert AFTER INSERT ON private_data_disks BEGIN \(diskChange("NEW", "")); END",
        "CREATE TRIGGER tr_quota_usages_disk_update AFTER UPDATE OF size_gb, user_id, tenant_id ON private_data_disks "
            + "WHEN \(diskMoves(distinct: "IS NOT")) BEGIN \(diskChange("OLD", "-")); \(diskChange("NEW", "")); END",
        "CREATE TRIGGER tr_quota_usages_disk_delete AFTER DELETE ON private_data_disks BEGIN \(diskChange("OLD", "-")); END",
    ]

    /// PostgreSQL runs a function per trigger: one per table, branching on the operation.
    static var postgresTriggers: [String] {
        func function(_ name: String, _ change: (String, String) -> String) -> String {
            """
            CREATE FUNCTION \(name)() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP IN ('UPDATE', 'DELETE') THEN \(change("OLD", "-")); END IF;
              IF TG_OP IN ('INSERT', 'UPDATE') THEN \(change("NEW", "")); END IF;
              IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
              RETURN NEW;
            END $$
            """
        }
        let distinct = "IS DISTINCT FROM"
        return [
            function("quota_usages_claim", claimChange),
            function("quota_usages_instance", instanceChange),
            function("quota_usages_disk", diskChange),
            "CREATE TRIGGER tr_quota_usages_claim AFTER INSERT OR UPDATE OR DELETE ON capacity_claims "
                + "FOR EACH ROW EXECUTE FUNCTION quota_usages_claim()",
            "CREATE TRIGGER tr_quota_usages_instance_insert AFTER INSERT ON instances FOR EACH ROW EXECUTE FUNCTION quota_usages_instance()",
            "CREATE TRIGGER tr_quota_usages_instance_update AFTER UPDATE OF status, user_id, tenant_id ON instances "
                + "FOR EACH ROW WHEN (\(instanceMoves(distinct: distinct))) EXECUTE FUNCTION quota_usages_instance()",
            "CREATE TRIGGER tr_quota_usages_instance_delete BEFORE DELETE ON instances FOR EACH ROW EXECUTE FUNCTION quota_usages_instance()",
            "CREATE TRIGGER tr_quota_usages_disk_insert_delete AFTER INSERT OR DELETE ON private_data_disks "
                + "FOR EACH ROW EXECUTE FUNCTION quota_usages_disk()",
            "CREATE TRIGGER tr_quota_usages_disk_update AFTER UPDATE OF size_gb, user_id, tenant_id ON private_data_disks "
                + "FOR EACH ROW WHEN (\(diskMoves(distinct: distinct))) EXECUTE FUNCTION quota_usages_disk()",
        ]
    }
}
