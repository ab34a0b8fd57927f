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
                  list: Self.permissionList) { request, context in
            _ = try context.requirePrincipal()
            let parameters = try ListParameters.parse(request, Self.permissionList)
            return try JSONResponse.make(try await permissions.list(parameters.query))
        }
        routes.on(.get, ":id", summary: "Get a permission", action: "permission.read", output: Permission.self) { _, context in
            _ = try context.requirePrincipal()
            guard let permission = try await permissions.find(try context.id(resource: "Permission")) else {
                throw Problem.notFound("Permission")
            }
            return try JSONResponse.make(permission)
        }
        roleRoutes.on(.get, "", summary: "List role grants", action: "role-permission.list",
                      output: Page<RolePermission>.self, list: Self.rolePermissionList) { request, context in
            _ = try context.requirePrincipal()
            let parameters = try ListParameters.parse(request, Self.rolePermissionList)
            return try JSONResponse.make(try await rolePermissions.list(parameters.query))
        }
    }
}
