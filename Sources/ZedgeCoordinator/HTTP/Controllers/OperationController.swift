import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/operations` (list, one, its events and tasks, cancel), `GET /api/v1/tasks` and
/// `POST /api/v1/compute-machines/{id}/tasks` (an operator sends a task to a machine's agent directly; instances do
/// it for users from the instance issue on).
///
/// Who sees an operation: ADMIN every one; a TENANT_ADMIN those of its tenant; an OPERATOR those of no tenant
/// (infrastructure: evacuations, prefetches, its own tasks) and, one at a time, its own; a USER its own. Others
/// are a 404. Whoever sees an operation may cancel it. Agent tasks as a list are for ADMIN and OPERATOR
/// (SERVER:MANAGE), without their payloads (a vm.create's carries the guest's user data).
public struct OperationController: Sendable {
    let operations: any ModelRepository<ZedgeCore.Operation>
    let agentTasks: any ModelRepository<AgentTask>
    let taskEvents: any ModelRepository<TaskEvent>
    let computeMachines: any ModelRepository<ComputeMachine>
    let queue: TaskQueue
    let dispatcher: WorkDispatcher
    let authorizer: Authorizer

    struct TaskBody: RequestBody {
        var kind: TaskKind
        var payload: JSONValue?
        var maxAttempts: Int?
        static var fieldRules: [String: FieldRule] { ["maxAttempts": .integer(1...20)] }
        /// A cephx key in the payload; the kind and the payload as its type are `typedPayload()`'s checks.
        func validate() -> [FieldError] {
            // A cephx key is added to a leased task by the coordinator, from the STORAGE pool named by
            // `storagePoolId`; one sent here would be stored in the task's payload.
            guard let path = payload.flatMap({ Self.secretPath($0, at: "payload") }) else { return [] }
            return [FieldError(field: path, message: "must not be sent: the coordinator adds the STORAGE pool's key when the agent leases the task")]
        }

        /// The payload as its kind's type: a compute machine's kind, and a payload that decodes, has no unknown
        /// member and whose values are in range. Decoded once, here, and planned typed, so that the dispatcher does
        /// not decode it again inside its transaction (issue #14: the operator's enqueue is a wake's first half).
        /// - Throws: `Problem.invalid` naming `kind` and each `payload.<field>`, as a failed `validate()` does.
        func typedPayload() throws -> any TaskPayload {
            var errors: [FieldError] = []
            if kind.isCloudBoxKind {
                errors.append(FieldError(field: "kind", message: "\(kind.rawValue) is a CloudBox's task; a compute machine's agent cannot carry it out"))
            }
            let (typed, problems) = kind.checkedPayload(payload ?? [:], prefix: "payload", rejectUnknownFields: true)
            errors += problems
            guard errors.isEmpty, let typed else { throw Problem.invalid(errors) }
            return typed
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

    /// An agent task as operators read it: everything but its payload.
    struct TaskView: Codable, Sendable {
        var id: UUID
        var operationId: UUID?
        var computeMachineId: UUID?
        var cloudBoxId: UUID?
        var kind: TaskKind
        var status: TaskStatus
        var attempts: Int
        var maxAttempts: Int
        var leaseExpiresAt: Date?
        /// The agent run holding the lease.
        var leaseHolder: UUID?
        var result: JSONValue?
        var error: String?
        var createdAt: Date
        var updatedAt: Date
        var finishedAt: Date?

        init(_ task: AgentTask) {
            id = task.id
            operationId = task.operationId
            computeMachineId = task.computeMachineId
            cloudBoxId = task.cloudBoxId
            kind = task.kind
            status = task.status
            attempts = task.attempts
            maxAttempts = task.maxAttempts
            leaseExpiresAt = task.leaseExpiresAt
            leaseHolder = task.leaseHolder
            result = task.result
            error = task.error
            createdAt = task.createdAt
            updatedAt = task.updatedAt
            finishedAt = task.finishedAt
        }
    }

    static let list = ListSpec(filters: [
        "status": .of(OperationStatus.self), "kind": .string, "resourceType": .string, "resourceId": .uuid,
        "userId": .uuid, "tenantId": .uuid,
    ])
    static let taskList = ListSpec(filters: [
        "status": .of(TaskStatus.self), "kind": .of(TaskKind.self), "operationId": .uuid, "computeMachineId": .uuid,
        "cloudBoxId": .uuid,
    ])
    static let eventList = ListSpec(filters: ["kind": .of(EventKind.self), "taskId": .uuid])

    public func register(operations routes: RouteRegistrar, tasks taskRoutes: RouteRegistrar, machines machineRoutes: RouteRegistrar) {
        routes.on(.get, "", summary: "List the operations the caller may see, newest last", action: "operation.list",
                  output: Page<ZedgeCore.Operation>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "An operation: its status, weighted steps and progress", action: "operation.read",
                  output: ZedgeCore.Operation.self, use: read)
        routes.on(.post, ":id/actions/cancel",
                  summary: "Cancel what the operation has not started: its queued tasks (deletes are kept); 409 once it has ended",
                  action: "operation.cancel", output: TaskQueue.Cancellation.self, use: cancel)
        routes.on(.get, ":id/events", summary: "An operation's events, as its tasks' agents reported them", action: "operation.events.list",
                  output: Page<TaskEvent>.self, list: Self.eventList, use: events)
        routes.on(.get, ":id/tasks", summary: "An operation's agent tasks: state, attempts, lease and host (no payload)",
                  action: "operation.tasks.list", output: Page<TaskView>.self, list: ListSpec(), use: operationTasks)
        taskRoutes.on(.get, "", summary: "List agent tasks (ADMIN, OPERATOR): state, attempts, lease and host (no payload)",
                      action: "task.list", output: Page<TaskView>.self, list: Self.taskList, use: tasks)
        taskRoutes.on(.get, ":id", summary: "Get an agent task (ADMIN, OPERATOR), without its payload", action: "task.read",
                      output: TaskView.self, use: readTask)
        machineRoutes.on(.post, ":id/tasks", summary: "Queue a task for the machine's agent (202 with its operation)",
                         action: "compute-machine.task", input: TaskBody.self, output: Queued.self, status: 202, use: task)
    }

    // MARK: - Route handlers

    /// List the operations the caller may see, newest last (`operation.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var parameters = try ListParameters.parse(request, Self.list)
        switch principal.role {
        case .admin: break
        case .tenantAdmin: parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
        // One filter for a list: an OPERATOR's own operations inside a tenant (rare) are read one at a time.
        case .operator: parameters.force("tenantId", .null)
        case .user: parameters.force("userId", .uuid(principal.userId))
        }
        return try JSONResponse.make(try await operations.list(parameters.query))
    }

    /// An operation: its status, weighted steps and progress (`operation.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await visibleOperation(context))
    }

    /// Cancel what the operation has not started (`operation.cancel`): whoever may see the operation may cancel it.
    func cancel(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let operation = try await visibleOperation(context)
        context.audit.resource(operation.id)
        let cancellation = try await queue.cancel(operation.id, by: principal.username)
        context.audit.detail("cancelledSteps", .array(cancellation.cancelledSteps.map { .string($0) }))
        return try JSONResponse.make(cancellation)
    }

    /// An operation's events, as its tasks' agents reported them (`operation.events.list`).
    func events(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let operation = try await visibleOperation(context)
        var parameters = try ListParameters.parse(request, Self.eventList)
        parameters.force("operationId", .uuid(operation.id))
        return try JSONResponse.make(try await taskEvents.list(parameters.query))
    }

    /// An operation's agent tasks (`operation.tasks.list`).
    func operationTasks(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let operation = try await visibleOperation(context)
        var parameters = try ListParameters.parse(request, ListSpec())
        parameters.force("operationId", .uuid(operation.id))
        return try JSONResponse.make(try await agentTasks.list(parameters.query).map(TaskView.init))
    }

    /// List agent tasks (`task.list`).
    func tasks(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try authorizer.require(try context.requirePrincipal(), .server, .manage)
        let parameters = try ListParameters.parse(request, Self.taskList)
        return try JSONResponse.make(try await agentTasks.list(parameters.query).map(TaskView.init))
    }

    /// Get an agent task (`task.read`).
    func readTask(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try authorizer.require(try context.requirePrincipal(), .server, .manage)
        guard let task = try await agentTasks.find(try context.id(resource: "Task")) else { throw Problem.notFound("Task") }
        return try JSONResponse.make(TaskView(task))
    }

    /// The operation the path names, if the caller may see it (the rule above); 404 otherwise.
    func visibleOperation(_ context: ZedgeRequestContext) async throws -> ZedgeCore.Operation {
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
        return operation
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
        try plan.task(body.kind, for: .computeMachine(machine.id), typed: body.typedPayload(), maxAttempts: body.maxAttempts ?? 5)
        let (operation, tasks) = try await dispatcher.submitWithTasks(plan)
        guard let task = tasks.first else { throw Problem(.internalServerError, detail: "No task was queued.") }
        context.audit.detail("operationId", .string(operation.id.uuidString))
        return try JSONResponse.make(Queued(operation: operation, task: task), status: .accepted,
                                     headers: [.location: "/api/v1/operations/\(operation.id)"])
    }
}
