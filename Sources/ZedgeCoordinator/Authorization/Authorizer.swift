import Foundation
import ZedgeCore

/// Decides whether a principal may do an action on a resource, from the RolePermission rows (function level,
/// through `RoleGrants`, which follows every change of the rows) and the tenant and ownership of the object
/// (object level).
///
/// Object-level refusals for objects outside the caller's reach are reported as 404 by the callers,
/// never 403, so that another tenant's objects cannot be discovered.
public struct Authorizer: Sendable {
    /// Permission names granted per role, as the RolePermission rows say.
    public let grants: RoleGrants

    public init(grants: RoleGrants) {
        self.grants = grants
    }

    /// An authorizer with grants of its own (tests, tools).
    public init(grants: [UserRole: Set<String>]) {
        self.grants = RoleGrants(grants)
    }

    /// Whether the role holds `resource:action` at all.
    public func allows(_ principal: Principal, _ resource: ResourceType, _ action: PermissionAction) -> Bool {
        grants.contains(principal.role, PermissionCatalog.name(resource, action))
    }

    /// Function-level check: 403 when the role lacks the permission.
    public func require(_ principal: Principal, _ resource: ResourceType, _ action: PermissionAction) throws {
        guard allows(principal, resource, action) else {
            throw DomainError.forbidden("Role \(principal.role.rawValue) may not \(action.rawValue) \(resource.rawValue).")
        }
    }

    /// Loads an object for `action` and decides in this order: 404 when it does not exist or is outside the
    /// caller's reach (so nothing about other tenants can be probed, whatever the role), then 403 when the
    /// role lacks the permission.
    public func reach<T>(
        _ principal: Principal, _ resource: ResourceType, _ action: PermissionAction, notFound name: String,
        load: () async throws -> T?, visible: (T) async throws -> Bool
    ) async throws -> T {
        guard let object = try await load(), try await visible(object) else { throw DomainError.notFound(name) }
        try require(principal, resource, action)
        return object
    }

    /// Object-level reach for tenant-owned objects: ADMIN everywhere; TENANT_ADMIN inside its tenant;
    /// OPERATOR and USER only what they own (`ownerId`) inside their tenant.
    public func canReach(_ principal: Principal, tenantId: UUID?, ownerId: UUID?) -> Bool {
        switch principal.role {
        case .admin: return true
        case .tenantAdmin: return tenantId != nil && tenantId == principal.tenantId
        case .operator, .user:
            guard let ownerId, ownerId == principal.userId else { return false }
            return tenantId == principal.tenantId
        }
    }

}
