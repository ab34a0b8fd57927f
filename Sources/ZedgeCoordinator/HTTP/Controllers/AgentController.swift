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

    static let taskPoll = ListSpec(extras: ["wait": .integer(0...60)])
    static let runHeader = HTTPField.Name(AgentRun.header)!

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "ca.pem", summary: "The CA certificate agents pin (compare its SHA-256 with --ca-hash)",
                  action: "agent.ca", output: EmptyBody.self, authenticated: false, use: ca)
        routes.on(.post, "register", summary: "Register an agent with an enrollment token", action: "agent.register",
                  input: RegisterRequest.self, output: RegisterResponse.self, status: 201, authenticated: false,
                  otherStatuses: [401: "Unknown, spent, expired or revoked enrollment token."], use: registerAgent)
        routes.on(.post, "heartbeat", summary: "Report liveness, readings and the VMs the hypervisor sees",
                  action: "agent.heartbeat", input: HeartbeatRequest.self, output: HeartbeatResponse.self, use: heartbeat)
        routes.on(.get, "tasks", summary: "Long-poll for this agent's tasks: answers at once with tasks leased to it, or waits up to `wait` seconds (max 60) for one; a new `Zedge-Agent-Run` frees the leases of the host's previous runs",
                  action: "agent.tasks", output: TaskPollResponse.self, list: Self.taskPoll, use: tasks)
        routes.on(.post, "tasks/:id/events", summary: "Report a task's progress (idempotent by sequence; extends the lease)",
                  action: "agent.task.event", input: TaskEventReport.self, output: EmptyBody.self, status: 204, use: taskEvent)
        routes.on(.post, "tasks/:id/result", summary: "Report how a task ended (idempotent: a second result changes nothing)",
                  action: "agent.task.result", input: TaskResultReport.self, output: EmptyBody.self, status: 204, use: taskResult)
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
            throw Problem.malformed(field: "wait", "must be an integer from 0 to 60")
        }
        let run = try request.headers[values: Self.runHeader].first.map { text in
            guard let run = UUID(uuidString: text) else {
                throw Problem.malformed(field: AgentRun.header, "must be a UUID (the agent run's id)")
            }
            return run
        }
        // The second pass of a poll that waited outside the handler (`LongPollPark`): carry on after the wait.
        if let park = context.park, let subscription = park.resumption {
            defer { subscription.cancel() }
            if park.clientHasLeft {
                // No one will read the answer: what was handed to the poll goes back to the queue at once, its
                // attempt not counted, and the host's other polls are woken (not left leased for the delivery window).
                try await queue.withdraw(subscription.handed, from: run, now: Date())
                return try await answer([], calls: [])
            }
            return try await answer(afterWaiting: subscription, agent: agent, run: run)
        }
        // A new run of this host's agent: the leases of its previous runs are handed out again now.
        if let run { try await queue.adopt(run: run, of: agent) }
        // Subscribed before looking, so that a task queued between the look and the wait wakes it.
        let subscription = wait > 0 ? notifier.subscribe(agent.hostId, handingTo: run) : nil
        var held = false
        defer { if !held { subscription?.cancel() } }
        let leased = try await queue.lease(for: agent, run: run)
        let calls = queue.isCurrent(run, of: agent) ? try await pendingCalls(agent) : []
        guard leased.isEmpty, calls.isEmpty, let subscription else {
            return try await answer(leased, calls: calls)
        }
        let metrics = self.metrics
        let waitForWork: @Sendable () async -> Void = {
            _ = await metrics.holdingLongPoll { await subscription.wait(timeout: .seconds(wait)) }
        }
        if let park = context.park {
            // The connection waits, without this request's frames; the request comes back through `resumption`.
            park.hold(subscription, wait: waitForWork)
            held = true
            return LongPollPark.placeholder
        }
        await waitForWork()
        return try await answer(afterWaiting: subscription, agent: agent, run: run)
    }

    /// After the wait: tasks handed over by the transaction that queued them are already leased to this run (no
    /// read). A run replaced while it waited (its agent was killed and came back) takes nothing: not even calls.
    private func answer(afterWaiting subscription: TaskNotifier.Subscription, agent: AgentPrincipal, run: UUID?) async throws -> Response {
        var leased = try await queue.accept(subscription.handed, for: agent, run: run)
        var calls: [AgentCall] = []
        if leased.isEmpty || (subscription.notified && leased.count < TaskQueue.tasksPerPoll) {
            leased += try await queue.lease(for: agent, run: run, limit: TaskQueue.tasksPerPoll - leased.count)
            calls = queue.isCurrent(run, of: agent) ? try await pendingCalls(agent) : []
        }
        return try await answer(leased, calls: calls)
    }

    /// The poll's answer: each task with the secrets its payload needs.
    private func answer(_ leased: [AgentTask], calls: [AgentCall]) async throws -> Response {
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

    /// Report how a task ended (idempotent: a second result changes nothing) (`agent.task.result`). 204, as for
    /// events: the agent reads nothing back, and encoding the whole task (its payload too) for every result was ~2 %
    /// of the coordinator's CPU under creates (issue #14).
    func taskResult(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        guard let task = try await queue.task(try context.id(resource: "Task"), of: agent) else { throw Problem.notFound("Task") }
        let report = try await request.decodeBody(TaskResultReport.self, context: context).value
        try await queue.finish(task, with: report)
        return JSONResponse.noContent()
    }
}

extension RegisterRequest: RequestBody {}

extension HostFacts: FieldRuleDeclaring {
    /// The libvirt domain type the host runs (`kvm`, `qemu` under TCG, or libvirt's `test` driver), and the OVS
    /// integration bridge, a Linux interface name.
    public static var fieldRules: [String: FieldRule] {
        ["domainType": .oneOf(strings: ["kvm", "qemu", "test"]), "integrationBridge": .interfaceName]
    }
}
extension TaskEventReport: RequestBody {
    public static var fieldRules: [String: FieldRule] { ["sequence": .integer(0...9_000_000_000_000_000), "name": .length(1...200)] }
}
extension TaskResultReport: RequestBody {}
extension AgentCallAnswer: RequestBody {}

extension HeartbeatRequest: RequestBody {
    public static var fieldRules: [String: FieldRule] {
        ["observedVms": .items(0...10_000), "backlog": .items(0...maximumBacklog), "agentVersion": .length(0...64),
         "cachedImages": .items(0...maximumCachedImages), "cachedImages[]": sha256Rule, "integrationBridge": .interfaceName]
    }

    /// A SHA-256 in 64 lowercase hexadecimal digits (`ImageRef.isSHA256Hex`).
    static let sha256Rule = FieldRule.string(["pattern": "^[0-9a-f]{64}$"]) { value, field in
        ImageRef.isSHA256Hex(value) ? nil : FieldError(field: field, message: "must be a SHA-256 of 64 lowercase hexadecimal digits")
    }
}

extension HostMetrics: FieldRuleDeclaring {
    /// The readings' ranges (percentages 0-100, temperature -60-200 °C, uptime not negative), in a heartbeat and in
    /// each reading of its backlog, which counts towards health as the current one does.
    public static var fieldRules: [String: FieldRule] {
        ["cpuUsagePercent": .number(0...100), "memoryUsagePercent": .number(0...100), "diskUsagePercent": .number(0...100),
         "temperature": .number(-60...200), "uptimeSeconds": .integer(0...9_000_000_000_000_000)]
    }
}
