import Foundation
import SQLKit
import ZedgeCore

/// What quota checks read: the limits of a user's groups and what live instances hold (DESIGN §2 Quotas).
public protocol QuotaRepository: Sendable {
    /// Holds the tenant's row for the transaction, so that one tenant's quota checks run one after another.
    func lockTenant(_ id: UUID, in tx: Transaction) async throws
    func tenant(_ id: UUID, in tx: Transaction) async throws -> Tenant?
    func user(_ id: UUID, in tx: Transaction) async throws -> User?
    /// The groups the user belongs to that have a quota, in id order.
    func groupQuotas(ofUser userId: UUID, in tx: Transaction) async throws -> [(id: UUID, name: String, limits: QuotaConfig)]
    /// What a user, a group's members or a tenant holds: the live claims of their instances, the instances not
    /// DELETED, and their private data disks (count and size, in `storageGb` with the claims').
    func usage(of owner: QuotaOwner, in tx: Transaction) async throws -> ResourceUsage
}

/// Whose usage is counted.
public enum QuotaOwner: Sendable {
    case user(UUID)
    case group(UUID)
    case tenant(UUID)
}

public struct SQLQuotaRepository: QuotaRepository {
    public init() {}

    public func lockTenant(_ id: UUID, in tx: Transaction) async throws { try await tx.lock(Tables.tenants, id) }
    public func tenant(_ id: UUID, in tx: Transaction) async throws -> Tenant? { try await Tables.tenants.find(id, on: tx.db) }
    public func user(_ id: UUID, in tx: Transaction) async throws -> User? { try await Tables.users.find(id, on: tx.db) }

    public func groupQuotas(ofUser userId: UUID, in tx: Transaction) async throws -> [(id: UUID, name: String, limits: QuotaConfig)] {
        let rows = try await tx.db.raw("""
            SELECT g.id AS id, g.name AS name, g.quota_config AS quota_config FROM user_groups g
            JOIN user_group_members m ON m.group_id = g.id WHERE m.user_id = \(bind: userId) ORDER BY g.id
            """).all()
        return try rows.compactMap { row in
            guard !(try row.decodeNil(column: "quota_config")) else { return nil }
            let text = try row.decode(column: "quota_config", as: String.self)
            guard let limits = try? ZedgeJSON.decoder().decode(QuotaConfig.self, from: Data(text.utf8)) else { return nil }
            return (try row.decode(column: "id", as: UUID.self), try row.decode(column: "name", as: String.self), limits)
        }
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
