import Foundation
import ZedgeCore

extension Authorizer {
    /// An infrastructure object (data center, pool, machine, CloudBox, enrollment token) named by the route's
    /// `{id}`: not tenant-scoped, so every caller reaches it and the role decides (404 when missing, then 403).
    func reachInfrastructure<T>(
        _ context: ZedgeRequestContext, _ resource: ResourceType, _ action: PermissionAction, name: String,
        load: (UUID) async throws -> T?
    ) async throws -> T {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: name)
        context.audit.resource(id)
        return try await reach(principal, resource, action, notFound: name) { try await load(id) } visible: { _ in true }
    }
}

