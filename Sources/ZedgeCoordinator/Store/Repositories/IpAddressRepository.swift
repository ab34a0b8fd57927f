import Foundation
import SQLKit
import ZedgeCore

/// The `ip_addresses` rows IPAM keeps: one per address (or range) that is or was ALLOCATED, RESERVED or
/// FROZEN; never one per free address (DESIGN §10). Every write runs in a transaction that holds the
/// subnet's row (`NetworkRepository.lockSubnet`).
public protocol IpAddressRepository: ModelStore where Model == IpAddress {
    /// A page of rows, only those in the tenant's subnets when `tenantId` is given.
    func list(_ query: ListQuery, tenantId: UUID?) async throws -> Page<IpAddress>
    func find(_ id: UUID, in tx: Transaction) async throws -> IpAddress?
    /// The rows that may hold addresses of the subnet: ALLOCATED, RESERVED and FROZEN (whether their lease or
    /// freeze has run out is the caller's question, see `IpAddressLifecycle`).
    func holding(subnetId: UUID, in tx: Transaction) async throws -> [IpAddress]
    /// The row of an address (canonical text), whatever its status.
    func row(address: String, in tx: Transaction) async throws -> IpAddress?
    func insert(_ row: IpAddress, in tx: Transaction) async throws
    func update(_ row: IpAddress, in tx: Transaction) async throws
    /// Deletes every row of the subnet (its history goes with it).
    func deleteAll(subnetId: UUID, in tx: Transaction) async throws
    /// The rows the instance holds (ALLOCATED to it).
    func allocated(instanceId: UUID, in tx: Transaction) async throws -> [IpAddress]
    /// Whether an ALLOCATED row carries this MAC address.
    func macInUse(_ mac: String, in tx: Transaction) async throws -> Bool
    /// Rows whose lease or freeze ended at or before `now`, at most `limit`.
    func due(now: Date, limit: Int) async throws -> [IpAddress]
    /// Writes `next` over the row only if it still has `status` and a lease or freeze that ended by `now` (an
    /// allocation made since changes one or the other, so a sweep never undoes it); true when it did.
    /// (Timestamps are never compared for equality: a REAL on SQLite does not round-trip a `Date` exactly.)
    func transition(_ id: UUID, from status: IpAddressStatus, to next: IpAddressLifecycle, now: Date) async throws -> Bool
}

public struct SQLIpAddressRepository: IpAddressRepository, SQLBackedStore, DatabaseBacked {
    let base: SQLModelRepository<IpAddress>
    var database: Database { base.database }
    let table = Tables.ipAddresses

    public init(database: Database) {
        base = SQLModelRepository(Tables.ipAddresses, database: database)
    }

    public func find(_ id: UUID, in tx: Transaction) async throws -> IpAddress? { try await table.find(id, on: tx.db) }

    public func list(_ query: ListQuery, tenantId: UUID?) async throws -> Page<IpAddress> {
        let scope = tenantId.map {
            SQLQueryString("subnet_id IN (SELECT s.id FROM subnets s JOIN vpcs v ON v.id = s.vpc_id WHERE v.tenant_id = \(bind: $0))")
        }
        return try await table.list(filters: try query.filters.map(SQLModelRepository<IpAddress>.sqlFilter), scope: scope,
                                    page: query.page, on: database.sql)
    }

    public func holding(subnetId: UUID, in tx: Transaction) async throws -> [IpAddress] {
        try await tx.db.raw("""
            SELECT * FROM ip_addresses WHERE subnet_id = \(bind: subnetId) AND status IN ('ALLOCATED', 'RESERVED', 'FROZEN')
            """).all().map { try RowCodec.decode(IpAddress.self, from: $0) }
    }

    public func row(address: String, in tx: Transaction) async throws -> IpAddress? {
        try await table.first(where: [try .equal("ipAddress", address)], on: tx.db)
    }

    public func insert(_ row: IpAddress, in tx: Transaction) async throws { try await table.insert(row, on: tx.db) }
    public func update(_ row: IpAddress, in tx: Transaction) async throws { _ = try await table.update(row, on: tx.db) }

    public func deleteAll(subnetId: UUID, in tx: Transaction) async throws {
        try await tx.db.raw("DELETE FROM ip_addresses WHERE subnet_id = \(bind: subnetId)").run()
    }

    public func allocated(instanceId: UUID, in tx: Transaction) async throws -> [IpAddress] {
        try await tx.db.raw("""
            SELECT * FROM ip_addresses WHERE instance_id = \(bind: instanceId) AND status = 'ALLOCATED'
            """).all().map { try RowCodec.decode(IpAddress.self, from: $0) }
    }

    public func macInUse(_ mac: String, in tx: Transaction) async throws -> Bool {
        try await tx.db.raw("""
            SELECT 1 AS one FROM ip_addresses WHERE mac_address = \(bind: mac) AND status = 'ALLOCATED'
            """).first() != nil
    }

    public func due(now: Date, limit: Int) async throws -> [IpAddress] {
        try await database.sql.raw("""
            SELECT * FROM ip_addresses WHERE status IN ('ALLOCATED', 'RESERVED', 'FROZEN') AND lease_expires_at <= \(bind: now)
            ORDER BY lease_expires_at LIMIT \(bind: limit)
            """).all().map { try RowCodec.decode(IpAddress.self, from: $0) }
    }

    public func transition(_ id: UUID, from status: IpAddressStatus, to next: IpAddressLifecycle, now: Date) async throws -> Bool {
        try await database.sql.raw("""
            UPDATE ip_addresses SET status = \(bind: next.status.rawValue), lease_expires_at = \(bind: next.leaseExpiresAt),
                updated_at = \(bind: now)
            WHERE id = \(bind: id) AND status = \(bind: status.rawValue) AND lease_expires_at <= \(bind: now)
            RETURNING id
            """).all().count == 1
    }
}
