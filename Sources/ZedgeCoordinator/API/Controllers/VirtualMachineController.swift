import Foundation
import Hummingbird
import SQLKit
import ZedgeCore

/// `/api/v1/virtual-machines`: read-only (the coordinator writes them as instances are placed and moved).
/// ADMIN and OPERATOR see every VM; a TENANT_ADMIN its tenant's; a USER those of its own instances.
public struct VirtualMachineController: Sendable {
    let store: Store
    let authorizer: Authorizer
    let table = Table<VirtualMachine>("virtual_machines", resource: "virtual machine")

    static let list = ListSpec(filters: ["status": .of(VirtualMachineStatus.self), "computeMachineId": .uuid, "instanceId": .uuid])

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "", summary: "List virtual machines", action: "virtual-machine.list", output: Page<VirtualMachine>.self,
                  list: Self.list) { request, context in
            let principal = try context.requirePrincipal()
            let query = try ListParameters.parse(request, Self.list).query
            let scope = try scope(for: principal)
            return try JSONResponse.make(try await table.list(
                filters: try query.filters.map(SQLModelRepository<VirtualMachine>.sqlFilter), scope: scope, page: query.page,
                on: store.database.sql))
        }
        routes.on(.get, ":id", summary: "Get a virtual machine", action: "virtual-machine.read", output: VirtualMachine.self) { _, context in
            let principal = try context.requirePrincipal()
            let id = try context.id(resource: "Virtual machine")
            let scope = try scope(for: principal)
            guard let vm = try await table.list(filters: [try .equal("id", id)], scope: scope, page: PageRequest(limit: 1),
                                                on: store.database.sql).items.first else {
                throw Problem.notFound("Virtual machine")
            }
            return try JSONResponse.make(vm)
        }
    }

    /// The rows `principal` may read (nil: all of them).
    func scope(for principal: Principal) throws -> SQLQueryString? {
        switch principal.role {
        case .admin, .operator:
            try authorizer.require(principal, .server, .read)
            return nil
        case .tenantAdmin:
            try authorizer.require(principal, .instance, .read)
            guard let tenant = principal.tenantId else { return "1 = 0" }
            return "instance_id IN (SELECT id FROM instances WHERE tenant_id = \(bind: tenant))"
        case .user:
            try authorizer.require(principal, .instance, .read)
            return "instance_id IN (SELECT id FROM instances WHERE user_id = \(bind: principal.userId))"
        }
    }
}
