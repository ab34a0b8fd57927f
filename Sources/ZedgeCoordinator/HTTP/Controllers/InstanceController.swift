import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/instances`: create (202 + Operation), read, list, lifecycle actions and delete. A USER reaches
/// its own instances, a TENANT_ADMIN its tenant's, ADMIN all; another's is a 404.
public struct InstanceController: Sendable {
    let computeMachines: any ModelRepository<ComputeMachine>
    let instances: any InstanceRepository
    let service: InstanceService
    let consoleLogs: ConsoleLogService
    let consoles: ConsoleService
    let tlsEnabled: Bool
    let authorizer: Authorizer

    /// The rules of an instance's fields, in create and PATCH alike: `timeoutS` is at most a year.
    static let rules: [String: FieldRule] = ["name": .name, "timeoutS": .integer(1...31_536_000)]

    static let consoleLog = ListSpec(extras: ["lines": .integer(ConsoleLogCall.linesRange)])

    static let list = ListSpec(filters: [
        "status": .of(InstanceStatus.self), "desiredStatus": .of(InstanceDesiredStatus.self), "tenantId": .uuid, "userId": .uuid,
        "templateId": .uuid, "computeMachineId": .uuid, "resourcePoolId": .uuid, "name": .string,
    ])

    struct CreateBody: RequestBody, Encodable {
        var name: String
        var templateId: UUID
        var templateVersion: String?
        /// The image version (a versionNumber) or tag to boot from, when the template has an image.
        var imageVersion: String?
        var imageTag: String?
        var parameters: [String: JSONValue]?
        var resourcePoolId: UUID?
        var tenantId: UUID?
        var rentalMode: RentalMode?
        var timeoutS: Int?
        /// The NICs: `[{subnetId, ipAddress?}]`, each on a subnet of the instance's tenant.
        var networks: [NetworkAttachments.NicRequest]?
        static var immutableFields: Set<String> {
            ["status", "desiredStatus", "computeMachineId", "virtualMachineId", "userId", "config", "startedAt"]
        }
        static var fieldRules: [String: FieldRule] {
            InstanceController.rules.merging(["parameters": .maxProperties(64), "networks": .items(0...NetworkAttachments.maximumNics)]) { $1 }
        }
    }

    /// `POST /api/v1/instances/{id}/console`.
    struct ConsoleBody: RequestBody {
        /// `vnc` (the graphics, RFB) or `serial` (the first serial port).
        var type: ConsoleType
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name"] }
        var name: String?
        var timeoutS: Int?
        static var immutableFields: Set<String> {
            ["status", "desiredStatus", "computeMachineId", "virtualMachineId", "userId", "tenantId", "templateId", "config",
             "rentalMode", "resourcePoolId", "startedAt"]
        }
        static var fieldRules: [String: FieldRule] { InstanceController.rules }
    }

    public func register(instances routes: RouteRegistrar, machines machineRoutes: RouteRegistrar) {
        machineRoutes.on(.post, ":id/actions/evacuate", summary: "Move every instance off the machine (an operator's explicit step; 202 + Operation)",
                         action: "compute-machine.evacuate", output: ZedgeCore.Operation.self, status: 202, use: evacuate)
        routes.on(.post, "", summary: "Create an instance from a template (202: placed, and vm.create sent to its machine)",
                  action: "instance.create", input: CreateBody.self, output: InstanceService.Accepted.self, status: 202, use: create)
        routes.on(.get, "", summary: "List instances", action: "instance.list", output: Page<InstanceView>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get an instance (unreachable: its machine is OFFLINE)", action: "instance.read",
                  output: InstanceView.self, use: read)
        routes.on(.patch, ":id", summary: "Rename an instance or change its timeoutS", action: "instance.update",
                  input: PatchBody.self, output: InstanceView.self, use: update)
        routes.on(.delete, ":id", summary: "Delete an instance (202; releases its capacity once, however often asked)",
                  action: "instance.delete", output: InstanceService.Accepted.self, status: 202, use: delete)
        routes.on(.get, ":id/console-log", summary: "The last lines of the instance's serial console (lines: 1-1000, default 100), read through its host's agent; 409 when the host is OFFLINE",
                  action: "instance.console-log", output: ConsoleLogOutput.self, list: Self.consoleLog, use: consoleLog)
        routes.on(.post, ":id/console", summary: "A console for the instance (type vnc or serial): a browser page and a WebSocket URL carrying a single-use token valid 60 s; the host is reached through its agent's own connection. 409 when the instance is not RUNNING or its host is OFFLINE",
                  action: "instance.console", input: ConsoleBody.self, output: ConsoleGrant.self, use: console)
        routes.on(.post, ":id/actions/:action", summary: "start, stop, restart or delete an instance (202 + Operation; 409 when its status forbids it)",
                  action: "instance.action", output: InstanceService.Accepted.self, status: 202, use: action)
    }

    // MARK: - Route handlers

    /// Move every instance off the machine (an operator's explicit step; 202 + Operation) (`compute-machine.evacuate`).
    func evacuate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let machine = try await authorizer.reachInfrastructure(context, .server, .execute, name: "Compute machine") {
            try await computeMachines.find($0)
        }
        let operation = try await service.evacuate(machineId: machine.id, by: principal)
        context.audit.detail("operationId", .string(operation.id.uuidString))
        return try JSONResponse.make(operation, status: .accepted, headers: [.location: "/api/v1/operations/\(operation.id)"])
    }

    /// Create an instance from a template (202: placed, and vm.create sent to its machine) (`instance.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .instance, .create)
        let decoded = try await request.decodeBody(CreateBody.self, context: context)
        let body = decoded.value
        let accepted = try await service.create(InstanceService.CreateRequest(
            name: body.name, templateId: body.templateId, templateVersion: body.templateVersion,
            imageVersion: body.imageVersion, imageTag: body.imageTag, parameters: body.parameters ?? [:], resourcePoolId: body.resourcePoolId, tenantId: body.tenantId,
            rentalMode: body.rentalMode, timeoutS: body.timeoutS, networks: body.networks, snapshot: try JSONValue(encoding: body)), by: principal)
        context.audit.resource(accepted.instance.instance.id)
        context.audit.detail("operationId", .string(accepted.operation.id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted, headers: [
            .location: "/api/v1/instances/\(accepted.instance.instance.id)",
        ])
    }

    /// List instances (`instance.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .instance, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        switch principal.role {
        case .admin: break
        case .tenantAdmin: parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
        case .operator, .user: parameters.force("userId", .uuid(principal.userId))
        }
        let page = try await instances.list(parameters.query)
        return try JSONResponse.make(Page(items: try await service.views(page.items), nextCursor: page.nextCursor))
    }

    /// Get an instance (unreachable: its machine is OFFLINE) (`instance.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await service.view(try await reachable(context, .read)))
    }

    /// The last lines of the instance's serial console (lines: 1-1000, default 100), read through its host's
    /// agent; 409 when the host is OFFLINE (`instance.console-log`).
    func consoleLog(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try context.requirePrincipal()  // credentials first: without them, nothing about the query is said
        // The one query parser: unknown and repeated parameters are refused here as on every route.
        let text = try ListParameters.parse(request, Self.consoleLog).extras["lines"] ?? String(ConsoleLogCall.defaultLines)
        guard let lines = Int(text), ConsoleLogCall.linesRange.contains(lines) else {
            throw Problem.malformed(field: "lines", "must be an integer from 1 to \(ConsoleLogCall.linesRange.upperBound)")
        }
        let instance = try await reachable(context, .read)
        return try JSONResponse.make(try await consoleLogs.tail(of: instance, lines: lines))
    }

    /// A console for the instance: a page and a WebSocket URL with a single-use 60 s token (`instance.console`).
    /// Whoever may operate the instance (start and stop it) may open its console.
    func console(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let body = try await request.decodeBody(ConsoleBody.self, context: context).value
        let instance = try await reachable(context, .execute)
        let (session, token) = try await consoles.issue(body.type, for: instance, by: principal.userId)
        context.audit.detail("consoleSessionId", .string(session.id.uuidString))
        context.audit.detail("type", .string(body.type.rawValue))
        let base = ConsoleController.baseURL(of: request, tls: tlsEnabled)
        let page = "\(base.http)/console/\(token)"
        let grant = ConsoleGrant(sessionId: session.id, instanceId: instance.id, type: body.type, url: page,
                                 websocketUrl: "\(base.ws)/console/\(token)/websocket", expiresAt: session.expiresAt)
        // 200, as Nova's `POST /servers/{id}/remote-consoles`: the session is not a resource one reads back.
        return try JSONResponse.make(grant, headers: [.cacheControl: "no-store"])
    }

    /// Rename an instance or change its timeoutS (`instance.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var instance = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("name") { instance.name = try required(patch.value.name, "name") }
        if patch.has("timeoutS") { instance.timeoutS = patch.value.timeoutS }
        return try JSONResponse.make(try await service.rename(instance))
    }

    /// Delete an instance (202; releases its capacity once, however often asked) (`instance.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let instance = try await reachable(context, .delete)
        return try accepted(try await service.act(.delete, on: instance.id, by: principal), context)
    }

    /// start, stop, restart or delete an instance (202 + Operation; 409 when its status forbids it) (`instance.action`).
    func action(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        guard let name = context.parameters.get("action"), let action = InstanceAction(rawValue: name) else {
            throw Problem.notFound("Action")
        }
        let instance = try await reachable(context, action == .delete ? .delete : .execute)
        context.audit.detail("action", .string(action.rawValue))
        return try accepted(try await service.act(action, on: instance.id, by: principal), context)
    }

    func accepted(_ accepted: InstanceService.Accepted, _ context: ZedgeRequestContext) throws -> Response {
        context.audit.detail("operationId", .string(accepted.operation.id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted, headers: [.location: "/api/v1/operations/\(accepted.operation.id)"])
    }

    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Instance {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Instance")
        context.audit.resource(id)
        return try await authorizer.reach(principal, .instance, action, notFound: "Instance") {
            try await instances.find(id)
        } visible: { instance in
            authorizer.canReach(principal, tenantId: instance.tenantId, ownerId: instance.userId)
        }
    }
}
