import Foundation
import HTTPTypes
import Hummingbird
import ZedgeCore

/// `/agent/v1`: the agent protocol (DESIGN §4). Agents fetch the CA they pin, register with an enrollment
/// token, then speak with their credential.
public struct AgentController: Sendable {
    let enrollment: AgentEnrollment
    let caCertificatePEM: String?
    let tracker: LivenessTracker
    let heartbeatInterval: Int
    let queue: TaskQueue
    let notifier: TaskNotifier
    let calls: AgentCallBroker
    /// Adds the cephx keys a leased task needs to the payload it is handed out with (never stored).
    let secrets: TaskSecrets
    /// Counts heartbeats and the long-polls held.
    let metrics: ReplicaMetrics

    static let taskPoll = ListSpec(extras: ["wait": .string])
    static let runHeader = HTTPField.Name(AgentRun.header)!

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "ca.pem", summary: "The CA certificate agents pin (compare its SHA-256 with --ca-hash)",
                  action: "agent.ca", output: EmptyBody.self, authenticated: false, use: ca)
        routes.on(.post, "register", summary: "Register an agent with an enrollment token", action: "agent.register",
                  input: RegisterRequest.self, output: RegisterResponse.self, status: 201, authenticated: false, use: registerAgent)
        routes.on(.post, "heartbeat", summary: "Report liveness, readings and the VMs the hypervisor sees",
                  action: "agent.heartbeat", input: HeartbeatRequest.self, output: HeartbeatResponse.self, use: heartbeat)
        routes.on(.get, "tasks", summary: "Long-poll for this agent's tasks: answers at once with tasks leased to it, or waits up to `wait` seconds (max 60) for one; a new `Zedge-Agent-Run` frees the leases of the host's previous runs",
                  action: "agent.tasks", output: TaskPollResponse.self, list: Self.taskPoll, use: tasks)
        routes.on(.post, "tasks/:id/events", summary: "Report a task's progress (idempotent by sequence; extends the lease)",
                  action: "agent.task.event", input: TaskEventReport.self, output: EmptyBody.self, status: 204, use: taskEvent)
        routes.on(.post, "tasks/:id/result", summary: "Report how a task ended (idempotent: a second result changes nothing)",
                  action: "agent.task.result", input: TaskResultReport.self, output: AgentTask.self, use: taskResult)
        routes.on(.post, "calls/:id/answer", summary: "Answer a call handed out with the long-poll (the first answer wins)",
                  action: "agent.call.answer", input: AgentCallAnswer.self, output: EmptyBody.self, status: 204, use: answerCall)
    }

    // MARK: - Route handlers

    /// The CA certificate agents pin (compare its SHA-256 with --ca-hash) (`agent.ca`).
    func ca(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        guard let caCertificatePEM else {
            throw Problem(.notFound, detail: "This coordinator uses an operator-supplied certificate; give agents its CA.")
        }
        return Response(status: .ok, headers: [.contentType: "application/x-pem-file"],
                        body: .init(byteBuffer: ByteBuffer(string: caCertificatePEM)))
    }

    /// Register an agent with an enrollment token (`agent.register`).
    func registerAgent(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let body = try await request.decodeBody(RegisterRequest.self, context: context).value
        let response = try await enrollment.register(body, audit: context.audit)
        return try JSONResponse.make(response, status: .created)
    }

    /// Report liveness, readings and the VMs the hypervisor sees (`agent.heartbeat`).
    func heartbeat(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let body = try await request.decodeBody(HeartbeatRequest.self, context: context).value
        let now = Date()
        tracker.record(.init(
            host: agent.hostId, kind: agent.computeMachineId != nil ? .computeMachine : .cloudBox, at: now,
            metrics: body.metrics, observedVms: body.observedVms, agentVersion: body.agentVersion, cachedImages: body.cachedImages,
            integrationBridge: body.integrationBridge),
            backlog: (body.backlog ?? []).filter { $0.at <= now }.sorted { $0.at < $1.at })
        metrics.heartbeatReceived(from: agent.computeMachineId != nil ? .computeMachine : .cloudBox)
        return try JSONResponse.make(HeartbeatResponse(heartbeatIntervalS: heartbeatInterval, serverTime: now))
    }

    /// Long-poll for this agent's tasks: answers at once with tasks leased to it, or waits up to `wait` seconds (max 60) for one (`agent.tasks`).
    func tasks(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let waitText = request.uri.queryParameters["wait"].map(String.init) ?? "0"
        guard let wait = Int(waitText), (0...60).contains(wait) else {
            throw Problem.invalid(field: "wait", "must be an integer from 0 to 60")
        }
        let run = try request.headers[values: Self.runHeader].first.map { text in
            guard let run = UUID(uuidString: text) else {
                throw Problem.invalid(field: AgentRun.header, "must be a UUID (the agent run's id)")
            }
            return run
        }
        // A new run of this host's agent: the leases of its previous runs are handed out again now.
        if let run { try await queue.adopt(run: run, of: agent) }
        // Subscribed before looking, so that a task queued between the look and the wait wakes it.
        let subscription = wait > 0 ? notifier.subscribe(agent.hostId) : nil
        defer { subscription?.cancel() }
        var leased = try await queue.lease(for: agent, run: run)
        var calls = queue.isCurrent(run, of: agent) ? try await pendingCalls(agent) : []
        if leased.isEmpty, calls.isEmpty, let subscription {
            let notified = await metrics.holdingLongPoll { await subscription.wait(timeout: .seconds(wait)) }
            // A run replaced while it waited (its agent was killed and came back) takes nothing: not even calls.
            leased = try await queue.lease(for: agent, run: run, expectingWork: notified)
            calls = queue.isCurrent(run, of: agent) ? try await pendingCalls(agent) : []
        }
        var assignments: [TaskAssignment] = []
        for task in leased {
            assignments.append(TaskAssignment(id: task.id, kind: task.kind, payload: try await secrets.payloadForAgent(task),
                                              attempt: task.attempts, leaseExpiresAt: task.leaseExpiresAt ?? Date()))
        }
        return try JSONResponse.make(TaskPollResponse(tasks: assignments, calls: calls.isEmpty ? nil : calls))
    }

    /// A compute machine's calls waiting to be handed out (CloudBoxes get none).
    func pendingCalls(_ agent: AgentPrincipal) async throws -> [AgentCall] {
        guard let machine = agent.computeMachineId else { return [] }
        return try await calls.deliver(to: machine)
    }

    /// Answer a call handed out with the long-poll (the first answer wins) (`agent.call.answer`).
    func answerCall(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let id = try context.id(resource: "Call")
        let answer = try await request.decodeBody(AgentCallAnswer.self, context: context).value
        guard let machine = agent.computeMachineId else { throw Problem.notFound("Call") }
        try await calls.answer(id, from: machine, with: answer)
        return JSONResponse.noContent()
    }

    /// Report a task's progress (idempotent by sequence; extends the lease) (`agent.task.event`).
    func taskEvent(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        guard let task = try await queue.task(try context.id(resource: "Task"), of: agent) else { throw Problem.notFound("Task") }
        let report = try await request.decodeBody(TaskEventReport.self, context: context).value
        try await queue.record(report, for: task)
        return JSONResponse.noContent()
    }

    /// Report how a task ended (idempotent: a second result changes nothing) (`agent.task.result`).
    func taskResult(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        guard let task = try await queue.task(try context.id(resource: "Task"), of: agent) else { throw Problem.notFound("Task") }
        let report = try await request.decodeBody(TaskResultReport.self, context: context).value
        return try JSONResponse.make(try await queue.finish(task, with: report))
    }
}

extension RegisterRequest: RequestBody {
    public func validate() -> [FieldError] {
        Validate.collect(
            facts.domainType.flatMap {
                ["kvm", "qemu", "test"].contains($0) ? nil : FieldError(field: "facts.domainType", message: "must be kvm, qemu or test")
            },
            facts.integrationBridge.flatMap { Validate.interfaceName($0, field: "facts.integrationBridge") })
    }
}
extension TaskEventReport: RequestBody {
    public func validate() -> [FieldError] {
        Validate.collect(
            sequence < 0 ? FieldError(field: "sequence", message: "must not be negative") : nil,
            name.isEmpty || name.count > 200 ? FieldError(field: "name", message: "must be 1 to 200 characters") : nil)
    }
}
extension TaskResultReport: RequestBody {}
extension AgentCallAnswer: RequestBody {}

extension HeartbeatRequest: RequestBody {
    /// The readings' ranges (percentages 0-100, temperature -60-200 °C, uptime not negative), fields under `prefix`.
    static func problems(_ metrics: HostMetrics, prefix: String) -> [FieldError] {
        func percent(_ value: Double?, _ field: String) -> FieldError? {
            guard let value else { return nil }
            return (0...100).contains(value) ? nil : FieldError(field: "\(prefix).\(field)", message: "must be from 0 to 100")
        }
        return Validate.collect(
            percent(metrics.cpuUsagePercent, "cpuUsagePercent"),
            percent(metrics.memoryUsagePercent, "memoryUsagePercent"),
            percent(metrics.diskUsagePercent, "diskUsagePercent"),
            metrics.temperature.flatMap { (-60...200).contains($0) ? nil : FieldError(field: "\(prefix).temperature", message: "must be from -60 to 200") },
            metrics.uptimeSeconds.flatMap { $0 >= 0 ? nil : FieldError(field: "\(prefix).uptimeSeconds", message: "must not be negative") })
    }

    public func validate() -> [FieldError] {
        // The backlog's readings count towards health as the current one does, so they are checked alike.
        let backlogProblems = (backlog ?? []).prefix(HeartbeatRequest.maximumBacklog).enumerated().flatMap { i, reading in
            Self.problems(reading.metrics, prefix: "backlog[\(i)].metrics")
        }
        return Self.problems(metrics, prefix: "metrics") + backlogProblems + Validate.collect(
            observedVms.count > 10_000 ? FieldError(field: "observedVms", message: "at most 10000") : nil,
            (backlog?.count ?? 0) > HeartbeatRequest.maximumBacklog
                ? FieldError(field: "backlog", message: "at most \(HeartbeatRequest.maximumBacklog) readings") : nil,
            agentVersion.count > 64 ? FieldError(field: "agentVersion", message: "at most 64 characters") : nil,
            (cachedImages?.count ?? 0) > HeartbeatRequest.maximumCachedImages
                ? FieldError(field: "cachedImages", message: "at most \(HeartbeatRequest.maximumCachedImages) entries") : nil,
            cachedImages?.firstIndex(where: { !ImageRef.isSHA256Hex($0) }).map {
                FieldError(field: "cachedImages[\($0)]", message: "must be a SHA-256 of 64 lowercase hexadecimal digits")
            },
            integrationBridge.flatMap { Validate.interfaceName($0, field: "integrationBridge") })
    }
}
