import Foundation
import ZedgeCore

/// What a coordinator sets up on start, before it serves: the RBAC rows (DESIGN §3: "Permission and
/// RolePermission rows are seeded at start") and the first admin (DESIGN §9).
extension Store {
    /// Inserts the Permission rows that do not exist yet and, for each new one, the default grants of
    /// `PermissionCatalog`; grants an operator removed from an existing permission stay removed.
    public func seedPermissions() async throws {
        let existing = try await allPages { try await permissions.list(.init(page: $0)) }
        let known = Set(existing.map(\.permissionName))
        for (resource, action) in PermissionCatalog.allPermissions {
            let name = PermissionCatalog.name(resource, action)
            guard !known.contains(name) else { continue }
            let permission = Permission(
                resourceType: resource, action: action, permissionName: name,
                description: PermissionCatalog.describe(resource, action))
            try await permissions.insert(permission)
            for role in UserRole.allCases where PermissionCatalog.defaultGrants(for: role).contains(name) {
                try await rolePermissions.insert(RolePermission(role: role, permissionId: permission.id))
            }
        }
    }

    /// The grants per role as the RolePermission rows say.
    public func loadGrants() async throws -> [UserRole: Set<String>] {
        let permissionsById = Dictionary(
            uniqueKeysWithValues: try await allPages { try await permissions.list(.init(page: $0)) }.map { ($0.id, $0) })
        var grants: [UserRole: Set<String>] = [:]
        for grant in try await allPages({ try await rolePermissions.list(.init(page: $0)) }) {
            if let permission = permissionsById[grant.permissionId] {
                grants[grant.role, default: []].insert(permission.permissionName)
            }
        }
        return grants
    }

    /// Creates the `admin` user on first start with an empty user table. Returns the generated password
    /// when none was configured (to be printed once), nil otherwise.
    public func bootstrapAdmin(password configured: String?, hasher: PasswordHasher) async throws -> (created: Bool, generatedPassword: String?) {
        guard try await users.count([]) == 0 else { return (false, nil) }
        let password = configured ?? SecretToken.generate(.apiKey).value.split(separator: "_").last.map(String.init)!
        if let problem = Validate.password(password, field: "ZEDGE_BOOTSTRAP_ADMIN_PASSWORD") {
            throw ConfigurationError("\(problem.field) \(problem.message)")
        }
        let admin = User(username: "admin", email: "admin@zedge.invalid", role: .admin, status: .active)
        try await users.insert(admin, passwordHash: try await hasher.hash(password))
        return (true, configured == nil ? password : nil)
    }
}
