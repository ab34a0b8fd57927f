import Foundation
import SQLKit
import ZedgeCore

/// Tenants, and their soft delete.
public protocol TenantRepository: ModelRepository where Model == Tenant {
    /// Soft-deletes the tenant (the seed's design note 3): status INACTIVE, and its VLAN (`vlanId`) freed
    /// for other tenants; its id stays in audit rows and in its INACTIVE users and DELETED instances. 409
    /// naming them while live objects refer to it (users not INACTIVE, instances not DELETED, user groups,
    /// templates, images, VPCs not DELETED, disks, places, …: `SoftDeletes`). False when there is no such
    /// live tenant.
    func deactivate(_ id: UUID, at date: Date) async throws -> Bool
}

public struct SQLTenantRepository: TenantRepository {
    let base: SQLModelRepository<Tenant>

    public init(database: Database) {
        base = SQLModelRepository(Tables.tenants, database: database)
    }

    public func insert(_ model: Tenant) async throws { try await base.insert(model) }
    public func find(_ id: UUID) async throws -> Tenant? { try await base.find(id) }
    /// Writes the tenant unless it was deleted (INACTIVE) since the caller read it; false then, or when gone.
    public func update(_ model: Tenant) async throws -> Bool {
        let table = base.table
        return try await base.database.transaction { tx in
            try await tx.lock(table, model.id)
            guard let current = try await table.find(model.id, on: tx.db), current.status != .inactive else { return false }
            return try await table.update(model, on: tx.db)
        }
    }
    public func delete(_ id: UUID) async throws -> Bool { try await base.delete(id) }
    public func list(_ query: ListQuery) async throws -> Page<Tenant> { try await base.list(query) }
    public func count(_ filters: [PropertyFilter]) async throws -> Int { try await base.count(filters) }

    public func deactivate(_ id: UUID, at date: Date) async throws -> Bool {
        let table = base.table
        return try await base.database.transaction { tx in
            try await tx.lock(table, id)
            guard let tenant = try await table.find(id, on: tx.db), tenant.status != .inactive else { return false }
            if let conflict = try await SoftDeletes.conflict(deleting: id, from: table.name, resource: table.resource, on: tx.db) {
                throw conflict
            }
            try await tx.db.update("tenants").set("status", to: TenantStatus.inactive.rawValue).set("vlan_id", to: SQLLiteral.null)
                .set("updated_at", to: date).where("id", .equal, id).run()
            return true
        }
    }
}
