import Foundation
import SQLKit
import ZedgeCore

/// What quota checks read: the limits of a user's groups and what live instances hold (DESIGN §2 Quotas).
public protocol QuotaRepository: Sendable {
    /// Holds the tenant's row for the transaction, so that one tenant's quota checks run one after another.
    func lockTenant(_ id: UUID, in tx: Transaction) async throws
    /// The limits that apply to the user's requests in the tenant, those set only: the user's, each of its groups'
    /// (id order), then the tenant's. In `tx` when given; else outside any transaction (on SQLite, on a reader,
    /// without taking the writer). A group whose stored limits do not decode counts as having none.
    func limits(userId: UUID, tenantId: UUID, in tx: Transaction?) async throws -> [QuotaLimit]
    /// What a user, a group's members or a tenant holds: the live claims of their instances, the instances not
    /// DELETED, and their private data disks (count and size, in `storageGb` with the claims').
    func usage(of owner: QuotaOwner, in tx: Transaction) async throws -> ResourceUsage
}

/// One level's limits (`QuotaConfig`) and whose usage they bound.
public struct QuotaLimit: Sendable, Hashable {
    public var level: QuotaLevel
    public var owner: QuotaOwner
    public var limits: QuotaConfig
}

/// Whose usage is counted.
public enum QuotaOwner: Sendable, Hashable {
    case user(UUID)
    case group(UUID)
    case tenant(UUID)
}

public struct SQLQuotaRepository: QuotaRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func lockTenant(_ id: UUID, in tx: Transaction) async throws { try await tx.lock(Tables.tenants, id) }

    /// Three reads of the columns needed (no whole rows decoded).
    public func limits(userId: UUID, tenantId: UUID, in tx: Transaction?) async throws -> [QuotaLimit] {
        let db = tx?.db ?? database.sql
        func config(_ row: any SQLRow) throws -> QuotaConfig? {
            guard !(try row.decodeNil(column: "quota_config")) else { return nil }
            return try? ZedgeJSON.decoder().decode(QuotaConfig.self, from: Data(try row.decode(column: "quota_config", as: String.self).utf8))
        }
        var limits: [QuotaLimit] = []
        if let row = try await db.raw("SELECT username, quota_config FROM users WHERE id = \(bind: userId)").first(),
           let config = try config(row) {
            limits.append(QuotaLimit(level: .user(userId, name: try row.decode(column: "username", as: String.self)),
                                     owner: .user(userId), limits: config))
        }
        for row in try await db.raw("""
            SELECT g.id AS id, g.name AS name, g.quota_config AS quota_config FROM user_groups g
            JOIN user_group_members m ON m.group_id = g.id WHERE m.user_id = \(bind: userId) AND g.quota_config IS NOT NULL ORDER BY g.id
            """).all() {
            guard let config = try config(row) else { continue }
            let id = try row.decode(column: "id", as: UUID.self)
            limits.append(QuotaLimit(level: .group(id, name: try row.decode(column: "name", as: String.self)), owner: .group(id), limits: config))
        }
        if let row = try await db.raw("SELECT name, quota_config FROM tenants WHERE id = \(bind: tenantId)").first(),
           let config = try config(row) {
            limits.append(QuotaLimit(level: .tenant(tenantId, name: try row.decode(column: "name", as: String.self)),
                                     owner: .tenant(tenantId), limits: config))
        }
        return limits
    }

    /// Reads the counters `SchemaV8`'s triggers keep (`quota_usages`): one row for a user or a tenant, the sum of
    /// the members' rows for a group. Its cost does not grow with the owner's instances.
    public func usage(of owner: QuotaOwner, in tx: Transaction) async throws -> ResourceUsage {
        let sums = SchemaV8.counters.map { "CAST(COALESCE(SUM(q.\($0)), 0) AS BIGINT) AS \($0)" }.joined(separator: ", ")
        let query: SQLQueryString = switch owner {
        case .user(let id):
            "SELECT \(unsafeRaw: sums) FROM quota_usages q WHERE q.owner_type = 'USER' AND q.owner_id = \(bind: id)"
        case .group(let id):
            """
            SELECT \(unsafeRaw: sums) FROM quota_usages q WHERE q.owner_type = 'USER'
            AND q.owner_id IN (SELECT user_id FROM user_group_members WHERE group_id = \(bind: id))
            """
        case .tenant(let id):
            "SELECT \(unsafeRaw: sums) FROM quota_usages q WHERE q.owner_type = 'TENANT' AND q.owner_id = \(bind: id)"
        }
        let row = try await tx.db.raw(query).first()
        func value(_ column: String) throws -> Int { try row?.decode(column: column, as: Int.self) ?? 0 }
        return ResourceUsage(
            cpuCores: try value("cpu_cores"), memoryGb: try value("memory_gb"), storageGb: try value("storage_gb") + value("disk_gb"),
            gpuCount: try value("gpu_count"), instances: try value("instances"), disks: try value("disks"))
    }
}
