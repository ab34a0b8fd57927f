#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Grants a permission to a role. UNIQUE(role, permissionId).
public struct RolePermission: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var role: UserRole
    public var permissionId: UUID

    public init(
        id: UUID = .v7(),
        role: UserRole,
        permissionId: UUID
    ) {
        self.id = id
        self.role = role
        self.permissionId = permissionId
    }
}
