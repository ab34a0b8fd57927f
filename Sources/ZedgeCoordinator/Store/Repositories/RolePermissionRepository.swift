import Foundation
import SQLKit
import ZedgeCore

/// The RolePermission rows (the seed's many-to-many between roles and permissions), which the authorizer reads.
/// Each change sends `NOTIFY zedge_grants` in its own transaction (PostgreSQL; delivered at commit), so that every
/// replica's `GrantsListener` reloads its grants at once.
public protocol RolePermissionRepository: ModelRepository<RolePermission> {
    /// Stores the grant and announces it. A second grant of one permission to one role is a unique-constraint
    /// conflict (409).
    func grant(_ grant: RolePermission) async throws
    /// Deletes the grant and announces it; false when there was no such grant.
    func revoke(_ id: UUID) async throws -> Bool
    /// Replaces every grant with `grants` in one transaction, and announces it.
    func replaceAll(with grants: [RolePermission]) async throws
    /// The permission names each role holds, as the rows say now.
    func grantsByRole() async throws -> [UserRole: Set<String>]
}

/// The channel grant changes are announced on; its payload is empty (a replica reloads every grant).
public enum GrantsChannel {
    public static let name = "zedge_grants"
}

public struct SQLRolePermissionRepository: RolePermissionRepository, SQLBackedStore {
    let base: SQLModelRepository<RolePermission>
    let database: Database

    public init(database: Database) {
        self.database = database
        self.base = SQLModelRepository(Tables.rolePermissions, database: database)
    }

    public func insert(_ model: RolePermission) async throws { try await base.insert(model) }

    public func grant(_ grant: RolePermission) async throws {
        let table = base.table, database = self.database
        try await database.transaction { tx in
            try await table.insert(grant, on: tx.db)
            try await Self.announce(on: tx.db, engine: database.engine)
        }
    }

    public func revoke(_ id: UUID) async throws -> Bool {
        let table = base.table, database = self.database
        return try await database.transaction { tx in
            guard try await table.delete(id, on: tx.db) else { return false }
            try await Self.announce(on: tx.db, engine: database.engine)
            return true
        }
    }

    public func replaceAll(with grants: [RolePermission]) async throws {
        let table = base.table, database = self.database
        try await database.transaction { tx in
            try await tx.db.delete(from: Tables.rolePermissions.name).run()
            for grant in grants { try await table.insert(grant, on: tx.db) }
            try await Self.announce(on: tx.db, engine: database.engine)
        }
    }

    public func grantsByRole() async throws -> [UserRole: Set<String>] {
        let rows = try await database.sql.select()
            .column(SQLColumn("role", table: "rp")).column(SQLColumn("permission_name", table: "p"))
            .from(SQLAlias(SQLIdentifier(Tables.rolePermissions.name), as: SQLIdentifier("rp")))
            .join(SQLAlias(SQLIdentifier("permissions"), as: SQLIdentifier("p")), method: SQLJoinMethod.inner,
                  on: SQLColumn("permission_id", table: "rp"), .equal, SQLColumn("id", table: "p"))
            .all()
        var grants: [UserRole: Set<String>] = [:]
        for row in rows {
            guard let role = UserRole(rawValue: try row.decode(column: "role", as: String.self)) else { continue }
            grants[role, default: []].insert(try row.decode(column: "permission_name", as: String.self))
        }
        return grants
    }

    static func announce(on db: any SQLDatabase, engine: DatabaseEngine) async throws {
        guard engine == .postgres else { return }
        try await db.raw("SELECT pg_notify(\(bind: GrantsChannel.name), '')").run()
    }
}
