import Foundation
import SQLKit
import ZedgeCore

/// One broken capacity invariant.
public struct ConsistencyViolation: Codable, Sendable, Hashable {
    /// "MACHINE_ALLOCATION", "POOL_ALLOCATION", "POOL_TOTAL", "DATA_CENTER_TOTAL", "INSTANCE_WITHOUT_CLAIM",
    /// "CLAIM_WITHOUT_INSTANCE", "INSTANCE_MULTIPLE_CLAIMS", "ADDRESS_WITHOUT_INSTANCE", "DISK_OVER_ATTACHED",
    /// "DISK_STATUS", "ATTACHMENT_WITHOUT_INSTANCE", "QUOTA_USAGE".
    public var kind: String
    public var resourceId: UUID
    public var detail: String
}

/// `GET /api/v1/admin/consistency`'s answer.
public struct ConsistencyReport: Codable, Sendable, Hashable {
    public var ok: Bool
    public var violations: [ConsistencyViolation]
}

/// The no-double-allocation invariants (issue: "every allocated counter equals the sum of its live
/// instances, no instance without a claim, no claim without an instance"), checked in SQL over one
/// transaction's snapshot: the quota counters and their recount are two reads, and on PostgreSQL's default
/// isolation a delete committed between them made the books look one instance out.
public struct ConsistencyCheck: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func run() async throws -> ConsistencyReport {
        let violations = try await database.transaction(snapshot: true) { tx in try await Self.violations(on: tx.db) }
        return ConsistencyReport(ok: violations.isEmpty, violations: violations)
    }

    static let counters = ["cpu_cores", "memory_gb", "storage_gb", "gpu_count"]

    static func violations(on db: any SQLDatabase) async throws -> [ConsistencyViolation] {
        var found: [ConsistencyViolation] = []
        let live = "(SELECT compute_machine_id, resource_pool_id, instance_id, cpu_cores, memory_gb, storage_gb, gpu_count FROM capacity_claims WHERE released_at IS NULL)"

        // Machines: allocated = the sum of their live claims.
        found += try await mismatches(
            kind: "MACHINE_ALLOCATION", of: "compute_machines", counter: { "allocated_\($0)" },
            sums: "SELECT compute_machine_id AS owner, \(sums) FROM \(live) c GROUP BY compute_machine_id", on: db)
        // Pools: allocated = the sum of their machines' allocated; totals = the sum of their machines' sizes.
        found += try await mismatches(
            kind: "POOL_ALLOCATION", of: "resource_pools", counter: { "allocated_\($0)" },
            sums: "SELECT resource_pool_id AS owner, \(sums(prefix: "allocated_")) FROM compute_machines GROUP BY resource_pool_id", on: db)
        found += try await mismatches(
            kind: "POOL_TOTAL", of: "resource_pools", counter: { "total_\($0)" },
            sums: "SELECT resource_pool_id AS owner, \(sums) FROM compute_machines GROUP BY resource_pool_id", on: db)
        found += try await mismatches(
            kind: "DATA_CENTER_TOTAL", of: "edge_data_centers", counter: { "total_\($0)" },
            sums: "SELECT edge_data_center_id AS owner, \(sums) FROM compute_machines GROUP BY edge_data_center_id", on: db)

        // A placed, live instance holds exactly one live claim, on its machine.
        for row in try await db.raw(SQLQueryString("""
            SELECT i.id AS id, i.status AS status, COUNT(c.instance_id) AS n
            FROM instances i LEFT JOIN \(unsafeRaw: live) c ON c.instance_id = i.id AND c.compute_machine_id = i.compute_machine_id
            WHERE i.compute_machine_id IS NOT NULL AND i.status <> 'DELETED'
            GROUP BY i.id, i.status HAVING COUNT(c.instance_id) <> 1
            """)).all() {
            let id = try row.decode(column: "id", as: UUID.self)
            let n = try row.decode(column: "n", as: Int.self)
            let status = try row.decode(column: "status", as: String.self)
            found.append(ConsistencyViolation(
                kind: n == 0 ? "INSTANCE_WITHOUT_CLAIM" : "INSTANCE_MULTIPLE_CLAIMS", resourceId: id,
                detail: "instance is \(status) on a machine and holds \(n) live claims there (expected 1)"))
        }
        // A live claim belongs to a live instance placed on the claim's machine.
        for row in try await db.raw(SQLQueryString("""
            SELECT c.id AS id, c.instance_id AS instance_id, i.status AS status
            FROM capacity_claims c LEFT JOIN instances i ON i.id = c.instance_id
            WHERE c.released_at IS NULL AND (i.id IS NULL OR i.status = 'DELETED'
                OR i.compute_machine_id IS NULL OR i.compute_machine_id <> c.compute_machine_id)
            """)).all() {
            let id = try row.decode(column: "id", as: UUID.self)
            let instance = try row.decode(column: "instance_id", as: UUID.self)
            let status = try row.decodeNil(column: "status") ? "gone" : try row.decode(column: "status", as: String.self)
            found.append(ConsistencyViolation(
                kind: "CLAIM_WITHOUT_INSTANCE", resourceId: id,
                detail: "live claim for instance \(instance), which is \(status) or placed elsewhere"))
        }
        // An address ALLOCATED to an instance belongs to one that is not DELETED (deleting releases it).
        for row in try await db.raw(SQLQueryString("""
            SELECT a.id AS id, a.ip_address AS ip_address, a.instance_id AS instance_id
            FROM ip_addresses a LEFT JOIN instances i ON i.id = a.instance_id
            WHERE a.status = 'ALLOCATED' AND a.instance_id IS NOT NULL AND (i.id IS NULL OR i.status = 'DELETED')
            """)).all() {
            let id = try row.decode(column: "id", as: UUID.self)
            let address = try row.decode(column: "ip_address", as: String.self)
            let instance = try row.decode(column: "instance_id", as: UUID.self)
            found.append(ConsistencyViolation(
                kind: "ADDRESS_WITHOUT_INSTANCE", resourceId: id,
                detail: "\(address) is ALLOCATED to instance \(instance), which is DELETED or gone"))
        }
        // A disk has no more attachments than its share mode allows (EXCLUSIVE: 1; SHARED: maxAttachments).
        for row in try await db.raw(SQLQueryString("""
            SELECT d.id AS id, d.share_mode AS share_mode, d.max_attachments AS max_attachments, COUNT(a.id) AS n
            FROM private_data_disks d JOIN instance_private_data_disk_attachments a ON a.disk_id = d.id
            GROUP BY d.id, d.share_mode, d.max_attachments
            HAVING COUNT(a.id) > CASE WHEN d.share_mode = 'EXCLUSIVE' THEN 1 ELSE d.max_attachments END
            """)).all() {
            let id = try row.decode(column: "id", as: UUID.self)
            found.append(ConsistencyViolation(
                kind: "DISK_OVER_ATTACHED", resourceId: id,
                detail: "\(try row.decode(column: "share_mode", as: String.self)) disk with maxAttachments "
                    + "\(try row.decode(column: "max_attachments", as: Int.self)) has \(try row.decode(column: "n", as: Int.self)) attachments"))
        }
        // AVAILABLE and ATTACHED say whether an attachment is ATTACHED.
        for row in try await db.raw(SQLQueryString("""
            SELECT d.id AS id, d.status AS status FROM private_data_disks d
            WHERE (d.status = 'ATTACHED' AND NOT EXISTS (SELECT 1 FROM instance_private_data_disk_attachments a
                                                          WHERE a.disk_id = d.id AND a.status = 'ATTACHED'))
               OR (d.status = 'AVAILABLE' AND EXISTS (SELECT 1 FROM instance_private_data_disk_attachments a
                                                       WHERE a.disk_id = d.id AND a.status = 'ATTACHED'))
            """)).all() {
            let id = try row.decode(column: "id", as: UUID.self)
            let status = try row.decode(column: "status", as: String.self)
            found.append(ConsistencyViolation(
                kind: "DISK_STATUS", resourceId: id,
                detail: status == "ATTACHED" ? "disk is ATTACHED without an ATTACHED attachment" : "disk is AVAILABLE with an ATTACHED attachment"))
        }
        // An attachment belongs to an instance that is not DELETED (deleting it drops its attachments).
        for row in try await db.raw(SQLQueryString("""
            SELECT a.id AS id, a.instance_id AS instance_id FROM instance_private_data_disk_attachments a
            JOIN instances i ON i.id = a.instance_id WHERE i.status = 'DELETED'
            """)).all() {
            let id = try row.decode(column: "id", as: UUID.self)
            let instance = try row.decode(column: "instance_id", as: UUID.self)
            found.append(ConsistencyViolation(
                kind: "ATTACHMENT_WITHOUT_INSTANCE", resourceId: id, detail: "attachment of instance \(instance), which is DELETED"))
        }
        found += try await quotaUsageMismatches(on: db)
        return found
    }

    /// Each user's and tenant's `quota_usages` row against a recount of what it holds (no row = all zero).
    static func quotaUsageMismatches(on db: any SQLDatabase) async throws -> [ConsistencyViolation] {
        struct Owner: Hashable { let type: String, id: UUID }
        func read(_ query: String) async throws -> [Owner: [Int]] {
            var counted: [Owner: [Int]] = [:]
            for row in try await db.raw(SQLQueryString(query)).all() {
                let owner = Owner(type: try row.decode(column: "owner_type", as: String.self), id: try row.decode(column: "owner_id", as: UUID.self))
                counted[owner] = try SchemaV8.counters.map { try row.decode(column: $0, as: Int.self) }
            }
            return counted
        }
        let kept = try await read("SELECT owner_type, owner_id, \(SchemaV8.counters.joined(separator: ", ")) FROM quota_usages")
        let recounted = try await read(SchemaV8.recount)
        let zero = Array(repeating: 0, count: SchemaV8.counters.count)
        return Set(kept.keys).union(recounted.keys).sorted { ($0.type, $0.id.uuidString) < ($1.type, $1.id.uuidString) }.compactMap { owner in
            let have = kept[owner] ?? zero, want = recounted[owner] ?? zero
            guard have != want else { return nil }
            let parts = zip(SchemaV8.counters, zip(have, want)).filter { $1.0 != $1.1 }.map { "\($0) is \($1.0), the recount is \($1.1)" }
            return ConsistencyViolation(kind: "QUOTA_USAGE", resourceId: owner.id,
                                        detail: "\(owner.type.lowercased()) quota usage: " + parts.joined(separator: "; "))
        }
    }

    static var sums: String { sums(prefix: "") }

    static func sums(prefix: String) -> String {
        counters.map { "CAST(COALESCE(SUM(COALESCE(\(prefix)\($0), 0)), 0) AS BIGINT) AS \($0)" }.joined(separator: ", ")
    }

    /// Rows of `table` whose counters differ from the sums computed per owner id (no sum row = all zero).
    static func mismatches(
        kind: String, of table: String, counter: (String) -> String, sums: String, on db: any SQLDatabase
    ) async throws -> [ConsistencyViolation] {
        let compare = counters.map { "COALESCE(t.\(counter($0)), 0) <> COALESCE(s.\($0), 0)" }.joined(separator: " OR ")
        let select = counters.map { "COALESCE(t.\(counter($0)), 0) AS have_\($0), COALESCE(s.\($0), 0) AS want_\($0)" }
            .joined(separator: ", ")
        let rows = try await db.raw(SQLQueryString(
            "SELECT t.id AS id, \(unsafeRaw: select) FROM \(unsafeRaw: table) t LEFT JOIN (\(unsafeRaw: sums)) s ON s.owner = t.id WHERE \(unsafeRaw: compare)")).all()
        return try rows.map { row in
            let id = try row.decode(column: "id", as: UUID.self)
            let parts = try counters.compactMap { c -> String? in
                let have = try row.decode(column: "have_\(c)", as: Int.self)
                let want = try row.decode(column: "want_\(c)", as: Int.self)
                return have == want ? nil : "\(counter(c)) is \(have), the sum is \(want)"
            }
            return ConsistencyViolation(kind: kind, resourceId: id, detail: parts.joined(separator: "; "))
        }
    }
}
