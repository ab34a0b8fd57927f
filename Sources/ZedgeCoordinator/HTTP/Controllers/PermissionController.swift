import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/permissions` and `/api/v1/role-permissions`: read-only views of the seeded RBAC rows.
public struct PermissionController: Sendable {
    let permissions: any ModelRepository<Permission>
    let rolePermissions: any ModelRepository<RolePermission>

    static let permissionList = ListSpec(filters: ["resourceType": .of(ResourceType.self), "action": .of(PermissionAction.self)])
    static let rolePermissionList = ListSpec(filters: ["role": .of(UserRole.self), "permissionId": .uuid])

    public func register(permissions routes: RouteRegistrar, rolePermissions roleRoutes: RouteRegistrar) {
        routes.on(.get, "", summary: "List permissions", action: "permission.list", output: Page<Permission>.self,
                  list: Self.permissionList, use: permissionList)
        routes.on(.get, ":id", summary: "Get a permission", action: "permission.read", output: Permission.self, use: read)
        roleRoutes.on(.get, "", summary: "List role grants", action: "role-permission.list",
                      output: Page<RolePermission>.self, list: Self.rolePermissionList, use: rolePermissionList)
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
}
