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
    /// What the live instances of a user, a group's members or a tenant hold: their live claims and their count.
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

    /// One statement (three subqueries: live claims, instances that are not DELETED, private data disks), so that the
    /// check costs one round trip inside the create's transaction, not three.
    public func usage(of owner: QuotaOwner, in tx: Transaction) async throws -> ResourceUsage {
        let condition: SQLQueryString = switch owner {
        case .user(let id): "i.user_id = \(bind: id)"
        case .group(let id): "i.user_id IN (SELECT user_id FROM user_group_members WHERE group_id = \(bind: id))"
        case .tenant(let id): "i.tenant_id = \(bind: id)"
        }
        // Every private data disk counts (a disk being deleted until it is gone), against `disks` and `storageGb`.
        let diskCondition: SQLQueryString = switch owner {
        case .user(let id): "d.user_id = \(bind: id)"
        case .group(let id): "d.user_id IN (SELECT user_id FROM user_group_members WHERE group_id = \(bind: id))"
        case .tenant(let id): "d.tenant_id = \(bind: id)"
        }
        let row = try await tx.db.raw("""
            SELECT claimed.cpu, claimed.mem, claimed.sto, claimed.gpu, counted.n AS instances, owned.n AS disks, owned.gb AS disk_gb FROM
              (SELECT CAST(COALESCE(SUM(c.cpu_cores), 0) AS BIGINT) AS cpu, CAST(COALESCE(SUM(c.memory_gb), 0) AS BIGINT) AS mem,
                      CAST(COALESCE(SUM(c.storage_gb), 0) AS BIGINT) AS sto, CAST(COALESCE(SUM(c.gpu_count), 0) AS BIGINT) AS gpu
                 FROM capacity_claims c JOIN instances i ON i.id = c.instance_id WHERE c.released_at IS NULL AND \(condition)) claimed,
              (SELECT CAST(COUNT(*) AS BIGINT) AS n FROM instances i WHERE i.status <> 'DELETED' AND \(condition)) counted,
              (SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(d.size_gb), 0) AS BIGINT) AS gb
                 FROM private_data_disks d WHERE \(diskCondition)) owned
            """).first()
        func value(_ column: String) throws -> Int { try row?.decode(column: column, as: Int.self) ?? 0 }
        return ResourceUsage(
            cpuCores: try value("cpu"), memoryGb: try value("mem"), storageGb: try value("sto") + value("disk_gb"),
            gpuCount: try value("gpu"), instances: try value("instances"), disks: try value("disks"))
    }
}
