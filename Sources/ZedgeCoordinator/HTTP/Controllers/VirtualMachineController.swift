import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/virtual-machines`: read-only (the coordinator writes them as instances are placed and moved).
/// ADMIN and OPERATOR see every VM; a TENANT_ADMIN its tenant's; a USER those of its own instances.
public struct VirtualMachineController: Sendable {
    let virtualMachines: any VirtualMachineRepository
    let authorizer: Authorizer

    static let list = ListSpec(filters: ["status": .of(VirtualMachineStatus.self), "computeMachineId": .uuid, "instanceId": .uuid])

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "", summary: "List virtual machines", action: "virtual-machine.list", output: Page<VirtualMachine>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a virtual machine", action: "virtual-machine.read", output: VirtualMachine.self, use: read)
    }

    // MARK: - Route handlers

    /// List virtual machines (`virtual-machine.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let query = try ListParameters.parse(request, Self.list).query
        let scope = try scope(for: principal)
        return try JSONResponse.make(try await virtualMachines.list(query, scope: scope))
    }

    /// Get a virtual machine (`virtual-machine.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Virtual machine")
        let scope = try scope(for: principal)
        guard let vm = try await virtualMachines.find(id, scope: scope) else {
            throw Problem.notFound("Virtual machine")
        }
        return try JSONResponse.make(vm)
    }

    /// The rows `principal` may read (nil: all of them).
    func scope(for principal: Principal) throws -> VirtualMachineScope {
        switch principal.role {
        case .admin, .operator:
            try authorizer.require(principal, .server, .read)
            return .all
        case .tenantAdmin:
            try authorizer.require(principal, .instance, .read)
            return .tenant(principal.tenantId)
        case .user:
            try authorizer.require(principal, .instance, .read)
            return .user(principal.userId)
        }
    }
}
