import Foundation
import ZedgeCore

/// The role → permission grants of DESIGN §3, seeded into the Permission and RolePermission tables at
/// start. Route checks read the seeded rows (through `Authorizer`), not this table, so an operator who
/// edits the rows changes behaviour; this is only the default.
public enum PermissionCatalog {
    /// `RESOURCE:ACTION`, the seeded `permissionName`.
    public static func name(_ resource: ResourceType, _ action: PermissionAction) -> String {
        "\(resource.rawValue):\(action.rawValue)"
    }

    /// The permission that grants and revokes permissions (`/api/v1/role-permissions`): managing the platform's
    /// tenancy, which its roles are part of. Only ADMIN holds it by default, and ADMIN's grant of it is never revoked.
    public static let grantManagement = name(.tenant, .manage)

    /// Every ResourceType × PermissionAction pair.
    public static var allPermissions: [(ResourceType, PermissionAction)] {
        ResourceType.allCases.flatMap { resource in PermissionAction.allCases.map { (resource, $0) } }
    }

    /// The default grants per role.
    public static func defaultGrants(for role: UserRole) -> Set<String> {
        let all = Set(PermissionAction.allCases)
        let crud: Set<PermissionAction> = [.create, .read, .update, .delete, .execute]
        var grants: [ResourceType: Set<PermissionAction>] = [:]
        switch role {
        case .admin:
            for resource in ResourceType.allCases { grants[resource] = all }
        case .tenantAdmin:
            // Everything inside its tenant; the tenant itself read and described; infrastructure read.
            grants[.tenant] = [.read, .update]
            for resource in [ResourceType.user, .userGroup, .instance, .instanceSet, .storage, .network, .place, .template, .image] {
                grants[resource] = all
            }
            grants[.server] = [.read]
            grants[.edgeDc] = [.read]
        case .operator:
            // Infrastructure: data centers, pools, machines, CloudBoxes, enrollment tokens.
            grants[.edgeDc] = all
            grants[.server] = all
            grants[.user] = [.read, .update]  // itself only (scope rule)
            grants[.image] = [.read]
            grants[.template] = [.read]
        case .user:
            // Its own things inside its tenant and quota.
            for resource in [ResourceType.instance, .instanceSet, .storage, .network] { grants[resource] = crud }
            grants[.user] = [.read, .update]  // itself only (scope rule)
            grants[.userGroup] = [.read]      // groups it belongs to
            grants[.tenant] = [.read]         // its own tenant
            grants[.template] = [.read]
            grants[.image] = [.read]
            grants[.place] = [.read]
            grants[.edgeDc] = [.read]
        }
        return Set(grants.flatMap { resource, actions in actions.map { name(resource, $0) } })
    }

    public static func describe(_ resource: ResourceType, _ action: PermissionAction) -> String {
        "\(action.rawValue.capitalized) \(resource.rawValue.lowercased().replacingOccurrences(of: "_", with: " ")) resources"
    }
}
