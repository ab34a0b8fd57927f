import Foundation
import Hummingbird
import ZedgeCore

/// `GET /api/v1/operations/{id}` and `POST /api/v1/compute-machines/{id}/tasks` (an operator sends a task to a
/// machine's agent directly; instances do it for users from the instance issue on).
public struct OperationController: Sendable {
    let computeMachines: any ModelRepository<ComputeMachine>
    let queue: TaskQueue
    let dispatcher: WorkDispatcher
    let authorizer: Authorizer

    struct TaskBody: RequestBody {
        var kind: TaskKind
        var payload: JSONValue?
        var maxAttempts: Int?
        func validate() -> [FieldError] {
            var errors = Validate.collect(maxAttempts.flatMap { Validate.size($0, field: "maxAttempts", in: 1...20) })
            // A cephx key is added to a leased task by the coordinator, from the STORAGE pool named by
            // `storagePoolId`; one sent here would be stored in the task's payload.
            if let path = payload.flatMap({ Self.secretPath($0, at: "payload") }) {
                errors.append(FieldError(field: path, message: "must not be sent: the coordinator adds the STORAGE pool's key when the agent leases the task"))
                return errors
            }
            if kind.isCloudBoxKind {
                errors.append(FieldError(field: "kind", message: "\(kind.rawValue) is a CloudBox's task; a compute machine's agent cannot carry it out"))
            }
            // The payload as its kind's type: it decodes, has no unknown member, and its values are in range.
            return errors + kind.payloadProblems(payload ?? [:], prefix: "payload", rejectUnknownFields: true)
        }

        /// The path of the first `cephKey` member in `value`, if any.
        static func secretPath(_ value: JSONValue, at path: String) -> String? {
            switch value {
            case .object(let members):
                if members[RbdCluster.secretKey] != nil { return "\(path).\(RbdCluster.secretKey)" }
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    if let found = secretPath(member, at: "\(path).\(key)") { return found }
                }
                return nil
            case .array(let items):
                for (i, item) in items.enumerated() { if let found = secretPath(item, at: "\(path)[\(i)]") { return found } }
                return nil
            default:
                return nil
            }
        }
    }

    struct Queued: Codable, Sendable {
        var operation: ZedgeCore.Operation
        var task: AgentTask
    }

    public func register(operations routes: RouteRegistrar, machines machineRoutes: RouteRegistrar) {
        routes.on(.get, ":id", summary: "An operation: its status, weighted steps and progress", action: "operation.read",
                  output: ZedgeCore.Operation.self, use: read)
        machineRoutes.on(.post, ":id/tasks", summary: "Queue a task for the machine's agent (202 with its operation)",
                         action: "compute-machine.task", input: TaskBody.self, output: Queued.self, status: 202, use: task)
    }

    // MARK: - Route handlers

    /// An operation: its status, weighted steps and progress (`operation.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Operation")
        guard let operation = try await queue.operation(id) else { throw Problem.notFound("Operation") }
        let visible = switch principal.role {
        case .admin: true
        case .tenantAdmin: operation.tenantId != nil && operation.tenantId == principal.tenantId
        case .operator: operation.tenantId == nil || operation.userId == principal.userId
        case .user: operation.userId == principal.userId
        }
        guard visible else { throw Problem.notFound("Operation") }
        return try JSONResponse.make(operation)
    }

    /// Queue a task for the machine's agent (202 with its operation) (`compute-machine.task`).
    func task(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let machine = try await authorizer.reachInfrastructure(context, .server, .execute, name: "Compute machine") {
            try await computeMachines.find($0)
        }
        let body = try await request.decodeBody(TaskBody.self, context: context).value
        var plan = OperationPlan(kind: "task.\(body.kind.rawValue)", userId: principal.userId, resourceType: ResourceType.server.rawValue,
                                 resourceId: machine.id, request: ["kind": .string(body.kind.rawValue)])
        plan.task(body.kind, for: .computeMachine(machine.id), payload: body.payload ?? [:], maxAttempts: body.maxAttempts ?? 5)
        let (operation, tasks) = try await dispatcher.submitWithTasks(plan)
        guard let task = tasks.first else { throw Problem(.internalServerError, detail: "No task was queued.") }
        context.audit.detail("operationId", .string(operation.id.uuidString))
        return try JSONResponse.make(Queued(operation: operation, task: task), status: .accepted,
                                     headers: [.location: "/api/v1/operations/\(operation.id)"])
    }
}
