import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/permissions` (the seeded Permission rows, read-only) and `/api/v1/role-permissions` (which role holds
/// which permission). Granting and revoking need `TENANT:MANAGE` (only ADMIN holds it by default); each change is
/// audited, NOTIFYs every replica, and takes effect on the next request. ADMIN's own `TENANT:MANAGE` cannot be
/// revoked, so nobody can lock the system out of its grants; `zedge-coordinator reset-role-permissions` restores
/// the seeded defaults.
public struct PermissionController: Sendable {
    let permissions: any ModelRepository<Permission>
    let rolePermissions: any RolePermissionRepository
    let authorizer: Authorizer

    static let permissionList = ListSpec(filters: ["resourceType": .of(ResourceType.self), "action": .of(PermissionAction.self)])
    static let rolePermissionList = ListSpec(filters: ["role": .of(UserRole.self), "permissionId": .uuid])

    struct GrantBody: RequestBody {
        var role: UserRole
        var permissionId: UUID
    }

    public func register(permissions routes: RouteRegistrar, rolePermissions roleRoutes: RouteRegistrar) {
        routes.on(.get, "", summary: "List permissions", action: "permission.list", output: Page<Permission>.self,
                  list: Self.permissionList, use: permissionList)
        routes.on(.get, ":id", summary: "Get a permission", action: "permission.read", output: Permission.self, use: read)
        roleRoutes.on(.get, "", summary: "List role grants", action: "role-permission.list",
                      output: Page<RolePermission>.self, list: Self.rolePermissionList, use: rolePermissionList)
        roleRoutes.on(.post, "", summary: "Grant a permission to a role (TENANT:MANAGE; every replica at once)",
                      action: "role-permission.create", input: GrantBody.self, output: RolePermission.self, status: 201, use: grant)
        roleRoutes.on(.get, ":id", summary: "Get a role grant", action: "role-permission.read", output: RolePermission.self,
                      use: rolePermissionRead)
        roleRoutes.on(.delete, ":id", summary: "Revoke a permission from a role (TENANT:MANAGE; ADMIN keeps TENANT:MANAGE)",
                      action: "role-permission.delete", output: EmptyBody.self, status: 204, use: revoke)
    }

    // MARK: - Route handlers

    /// List permissions (`permission.list`).
    func permissionList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try context.requirePrincipal()
        let parameters = try ListParameters.parse(request, Self.permissionList)
        return try JSONResponse.make(try await permissions.list(parameters.query))
    }

    /// Get a permission (`permission.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try context.requirePrincipal()
        guard let permission = try await permissions.find(try context.id(resource: "Permission")) else {
            throw Problem.notFound("Permission")
        }
        return try JSONResponse.make(permission)
    }

    /// List role grants (`role-permission.list`).
    func rolePermissionList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try context.requirePrincipal()
        let parameters = try ListParameters.parse(request, Self.rolePermissionList)
        return try JSONResponse.make(try await rolePermissions.list(parameters.query))
    }

    /// Get a role grant (`role-permission.read`).
    func rolePermissionRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try context.requirePrincipal()
        guard let grant = try await rolePermissions.find(try context.id(resource: "Role permission")) else {
            throw Problem.notFound("Role permission")
        }
        return try JSONResponse.make(grant)
    }

    /// Grant a permission to a role (`role-permission.create`): 201, in force on every replica at once; 409 when the
    /// role holds it already.
    func grant(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .tenant, .manage)
        let body = try await request.decodeBody(GrantBody.self, context: context).value
        guard let permission = try await permissions.find(body.permissionId) else {
            throw Problem.invalid(field: "permissionId", "no such permission")
        }
        let grant = RolePermission(role: body.role, permissionId: permission.id)
        try await rolePermissions.grant(grant)
        try await GrantsListener.reload(authorizer.grants, from: rolePermissions)
        context.audit.resource(grant.id)
        context.audit.detail("role", .string(grant.role.rawValue))
        context.audit.detail("permission", .string(permission.permissionName))
        return try JSONResponse.created(grant, at: "/api/v1/role-permissions/\(grant.id.uuidString)")
    }

    /// Revoke a grant (`role-permission.delete`): 204, in force on every replica at once; 409 for ADMIN's
    /// `TENANT:MANAGE`, which manages the grants themselves.
    func revoke(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Role permission")
        context.audit.resource(id)
        try authorizer.require(principal, .tenant, .manage)
        guard let grant = try await rolePermissions.find(id) else { throw Problem.notFound("Role permission") }
        let permission = try await permissions.find(grant.permissionId)
        context.audit.detail("role", .string(grant.role.rawValue))
        context.audit.detail("permission", .string(permission?.permissionName ?? grant.permissionId.uuidString))
        if grant.role == .admin, permission?.permissionName == PermissionCatalog.grantManagement {
            throw Problem(.conflict, detail: "ADMIN keeps \(PermissionCatalog.grantManagement): it is what grants and revokes permissions, "
                + "so revoking it could lock everyone out.")
        }
        guard try await rolePermissions.revoke(id) else { throw Problem.notFound("Role permission") }
        try await GrantsListener.reload(authorizer.grants, from: rolePermissions)
        return JSONResponse.noContent()
    }
}
