import Foundation
import SQLKit
import ZedgeCore

/// Where a subnet's addresses lie and whose they are: what the overlap check compares.
public struct SubnetFootprint: Sendable, Hashable {
    public var id: UUID
    public var name: String
    public var cidrBlock: String
    public var vpcId: UUID
    public var tenantId: UUID
}

/// VPCs, their subnets and places (DESIGN §10): the reads and transactional writes `NetworkService` needs.
/// The plain reads and lists go through `vpcs`, `subnets` and `places` (`ModelStore`s).
public protocol NetworkRepository: Sendable {
    var vpcs: any ModelRepository<Vpc> { get }
    var subnets: any ModelRepository<Subnet> { get }
    var places: any ModelRepository<Place> { get }

    /// A page of subnets, only those of the tenant's VPCs when `tenantId` is given.
    func listSubnets(_ query: ListQuery, tenantId: UUID?) async throws -> Page<Subnet>
    /// A page of resource pools; with `tenantScope`, a subnet's IP_ADDRESS pool only when the subnet is that
    /// tenant's (`.some(nil)`: none at all). Other pools are infrastructure, listed for everyone.
    func listPools(_ query: ListQuery, tenantScope: UUID??) async throws -> Page<ResourcePool>
    /// The tenant a subnet's VPC belongs to; nil for no such subnet.
    func tenantOf(subnetId: UUID) async throws -> UUID?

    func vpc(_ id: UUID, in tx: Transaction) async throws -> Vpc?
    /// Reads the VPC, holding its row for the rest of the transaction.
    func lockVpc(_ id: UUID, in tx: Transaction) async throws -> Vpc?
    func insert(_ vpc: Vpc, in tx: Transaction) async throws
    func update(_ vpc: Vpc, in tx: Transaction) async throws

    func subnet(_ id: UUID, in tx: Transaction) async throws -> Subnet?
    /// Reads the subnet, holding its row for the rest of the transaction: allocations in one subnet run one
    /// after another, in one process or across replicas.
    func lockSubnet(_ id: UUID, in tx: Transaction) async throws -> Subnet?
    /// Serialises subnet creation (PostgreSQL: a table lock that lets reads through; SQLite transactions
    /// already hold its one write lock), so two overlapping subnets cannot both pass the overlap check.
    func lockSubnetCreation(in tx: Transaction) async throws
    func insert(_ subnet: Subnet, in tx: Transaction) async throws
    func update(_ subnet: Subnet, in tx: Transaction) async throws
    func deleteSubnet(_ id: UUID, in tx: Transaction) async throws
    /// Every subnet of the family's address space (all tenants), with its VPC's tenant.
    func footprints(in tx: Transaction) async throws -> [SubnetFootprint]
    /// How many subnets the VPC has.
    func subnetCount(vpcId: UUID, in tx: Transaction) async throws -> Int
    /// How many subnets the tenant's VPCs have.
    func subnetCount(tenantId: UUID, in tx: Transaction) async throws -> Int

    /// Reads the tenant, holding its row (its VLAN is given with its first subnet).
    func lockTenant(_ id: UUID, in tx: Transaction) async throws -> Tenant?
    func update(_ tenant: Tenant, in tx: Transaction) async throws
    /// The VLAN ids in use anywhere, with the tenant using each: tenants', VPCs' (not DELETED) and subnets'.
    func vlansInUse(in tx: Transaction) async throws -> [(vlanId: Int, tenantId: UUID)]

    /// A subnet's IP_ADDRESS pool (made and removed with the subnet).
    func pool(_ id: UUID, in tx: Transaction) async throws -> ResourcePool?
    func insert(_ pool: ResourcePool, in tx: Transaction) async throws
    func update(_ pool: ResourcePool, in tx: Transaction) async throws
    func deletePool(_ id: UUID, in tx: Transaction) async throws

    func place(_ id: UUID, in tx: Transaction) async throws -> Place?
    func insert(_ place: Place, in tx: Transaction) async throws
    func update(_ place: Place, in tx: Transaction) async throws
    func deletePlace(_ id: UUID, in tx: Transaction) async throws
}

public struct SQLNetworkRepository: NetworkRepository {
    public let vpcs: any ModelRepository<Vpc>
    public let subnets: any ModelRepository<Subnet>
    public let places: any ModelRepository<Place>
    let database: Database

    public init(database: Database) {
        self.database = database
        vpcs = SQLModelRepository(Tables.vpcs, database: database)
        subnets = SQLModelRepository(Tables.subnets, database: database)
        places = SQLModelRepository(Tables.places, database: database)
    }

    public func listSubnets(_ query: ListQuery, tenantId: UUID?) async throws -> Page<Subnet> {
        let scope = tenantId.map { SQLQueryString("vpc_id IN (SELECT id FROM vpcs WHERE tenant_id = \(bind: $0))") }
        return try await Tables.subnets.list(filters: try query.filters.map(SQLModelRepository<Subnet>.sqlFilter), scope: scope,
                                             page: query.page, on: database.sql)
    }

    public func listPools(_ query: ListQuery, tenantScope: UUID??) async throws -> Page<ResourcePool> {
        let scope: SQLQueryString? = switch tenantScope {
        case .none: nil
        case .some(.none): SQLQueryString("subnet_id IS NULL")
        case .some(.some(let tenantId)):
            SQLQueryString("(subnet_id IS NULL OR subnet_id IN (SELECT s.id FROM subnets s JOIN vpcs v ON v.id = s.vpc_id WHERE v.tenant_id = \(bind: tenantId)))")
        }
        return try await Tables.resourcePools.list(filters: try query.filters.map(SQLModelRepository<ResourcePool>.sqlFilter), scope: scope,
                                                   page: query.page, on: database.sql)
    }

    public func tenantOf(subnetId: UUID) async throws -> UUID? {
        try await database.sql.raw("""
            SELECT v.tenant_id FROM subnets s JOIN vpcs v ON v.id = s.vpc_id WHERE s.id = \(bind: subnetId)
            """).first()?.decode(column: "tenant_id", as: UUID.self)
    }

    public func vpc(_ id: UUID, in tx: Transaction) async throws -> Vpc? { try await Tables.vpcs.find(id, on: tx.db) }

    public func lockVpc(_ id: UUID, in tx: Transaction) async throws -> Vpc? {
        try await tx.lock(Tables.vpcs, id)
        return try await Tables.vpcs.find(id, on: tx.db)
    }

    public func insert(_ vpc: Vpc, in tx: Transaction) async throws { try await Tables.vpcs.insert(vpc, on: tx.db) }
    public func update(_ vpc: Vpc, in tx: Transaction) async throws { _ = try await Tables.vpcs.update(vpc, on: tx.db) }

    public func subnet(_ id: UUID, in tx: Transaction) async throws -> Subnet? { try await Tables.subnets.find(id, on: tx.db) }

    public func lockSubnet(_ id: UUID, in tx: Transaction) async throws -> Subnet? {
        try await tx.lock(Tables.subnets, id)
        return try await Tables.subnets.find(id, on: tx.db)
    }

    public func lockSubnetCreation(in tx: Transaction) async throws {
        guard tx.engine == .postgres else { return }
        try await tx.db.raw("LOCK TABLE subnets IN SHARE ROW EXCLUSIVE MODE").run()
    }

    public func insert(_ subnet: Subnet, in tx: Transaction) async throws { try await Tables.subnets.insert(subnet, on: tx.db) }
    public func update(_ subnet: Subnet, in tx: Transaction) async throws { _ = try await Tables.subnets.update(subnet, on: tx.db) }
    public func deleteSubnet(_ id: UUID, in tx: Transaction) async throws { _ = try await Tables.subnets.delete(id, on: tx.db) }

    public func footprints(in tx: Transaction) async throws -> [SubnetFootprint] {
        try await tx.db.raw("""
            SELECT s.id, s.name, s.cidr_block, s.vpc_id, v.tenant_id FROM subnets s JOIN vpcs v ON v.id = s.vpc_id
            """).all().map { row in
            SubnetFootprint(
                id: try row.decode(column: "id", as: UUID.self), name: try row.decode(column: "name", as: String.self),
                cidrBlock: try row.decode(column: "cidr_block", as: String.self), vpcId: try row.decode(column: "vpc_id", as: UUID.self),
                tenantId: try row.decode(column: "tenant_id", as: UUID.self))
        }
    }

    public func subnetCount(vpcId: UUID, in tx: Transaction) async throws -> Int {
        try await Tables.subnets.count(where: [try .equal("vpcId", vpcId)], on: tx.db)
    }

    public func lockTenant(_ id: UUID, in tx: Transaction) async throws -> Tenant? {
        try await tx.lock(Tables.tenants, id)
        return try await Tables.tenants.find(id, on: tx.db)
    }

    public func update(_ tenant: Tenant, in tx: Transaction) async throws { _ = try await Tables.tenants.update(tenant, on: tx.db) }

    public func subnetCount(tenantId: UUID, in tx: Transaction) async throws -> Int {
        try await tx.db.raw("""
            SELECT COUNT(*) AS n FROM subnets s JOIN vpcs v ON v.id = s.vpc_id WHERE v.tenant_id = \(bind: tenantId)
            """).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    public func vlansInUse(in tx: Transaction) async throws -> [(vlanId: Int, tenantId: UUID)] {
        try await tx.db.raw("""
            SELECT vlan_id, id AS tenant_id FROM tenants WHERE vlan_id IS NOT NULL
            UNION SELECT vlan_id, tenant_id FROM vpcs WHERE vlan_id IS NOT NULL AND status <> 'DELETED'
            UNION SELECT s.vlan_id, v.tenant_id FROM subnets s JOIN vpcs v ON v.id = s.vpc_id WHERE s.vlan_id IS NOT NULL
            """).all().map { (try $0.decode(column: "vlan_id", as: Int.self), try $0.decode(column: "tenant_id", as: UUID.self)) }
    }

    public func pool(_ id: UUID, in tx: Transaction) async throws -> ResourcePool? { try await Tables.resourcePools.find(id, on: tx.db) }
    public func insert(_ pool: ResourcePool, in tx: Transaction) async throws { try await Tables.resourcePools.insert(pool, on: tx.db) }
    public func update(_ pool: ResourcePool, in tx: Transaction) async throws { _ = try await Tables.resourcePools.update(pool, on: tx.db) }
    public func deletePool(_ id: UUID, in tx: Transaction) async throws { _ = try await Tables.resourcePools.delete(id, on: tx.db) }

    public func place(_ id: UUID, in tx: Transaction) async throws -> Place? { try await Tables.places.find(id, on: tx.db) }
    public func insert(_ place: Place, in tx: Transaction) async throws { try await Tables.places.insert(place, on: tx.db) }
    public func update(_ place: Place, in tx: Transaction) async throws { _ = try await Tables.places.update(place, on: tx.db) }
    public func deletePlace(_ id: UUID, in tx: Transaction) async throws { _ = try await Tables.places.delete(id, on: tx.db) }
}
