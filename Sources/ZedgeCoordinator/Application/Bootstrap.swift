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

    /// Replaces every RolePermission row with the defaults of `PermissionCatalog` (`zedge-coordinator
    /// reset-role-permissions`), in one transaction that NOTIFYs every running replica. Returns how many grants
    /// there are now.
    @discardableResult
    public func resetRolePermissions() async throws -> Int {
        try await seedPermissions()
        let permissionsByName = Dictionary(
            uniqueKeysWithValues: try await allPages { try await permissions.list(.init(page: $0)) }.map { ($0.permissionName, $0) })
        var defaults: [RolePermission] = []
        for role in UserRole.allCases {
            for name in PermissionCatalog.defaultGrants(for: role).sorted() {
                if let permission = permissionsByName[name] { defaults.append(RolePermission(role: role, permissionId: permission.id)) }
            }
        }
        try await rolePermissions.replaceAll(with: defaults)
        return defaults.count
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
