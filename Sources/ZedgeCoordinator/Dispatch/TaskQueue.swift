import Foundation
import Logging
import ZedgeCore

/// The per-host task queue: leases with conditional updates (two long-polls never get the same task),
/// idempotent events and results, lease expiry, and the operation of each task moved along as it goes
/// (DESIGN §4). New work enters through `WorkDispatcher`.
///
/// No task is lost to an agent that has gone: a lease lasts only `deliveryTTL` until the agent acknowledges the
/// task with its first event (a response written to a dead long-poll costs that window), and a poll from a new run
/// of a host's agent (`AgentRun`) frees at once every lease its previous runs held.
public struct TaskQueue: Sendable {
    let tasks: any TaskRepository
    let notifier: TaskNotifier
    let leaseTTL: TimeInterval
    /// The lease of a task handed out and not yet acknowledged (at most `leaseTTL`).
    let deliveryTTL: TimeInterval
    /// Told about every task that reaches SUCCEEDED, FAILED or CANCELLED (results, expired last attempts, cancels).
    let outcomes: TaskOutcomeHandlers
    /// Counts the tasks this queue puts back for another attempt and those that end FAILED.
    let metrics: ReplicaMetrics?
    let runs = AgentRuns()
    /// The most tasks one long-poll answer carries (leased by the poll, or handed to it by `WorkDispatcher`).
    public static let tasksPerPoll = 16

    public init(tasks: any TaskRepository, notifier: TaskNotifier, leaseTTL: TimeInterval, deliveryTTL: TimeInterval? = nil,
                outcomes: TaskOutcomeHandlers, metrics: ReplicaMetrics? = nil) {
        self.tasks = tasks
        self.notifier = notifier
        self.leaseTTL = leaseTTL
        self.deliveryTTL = min(deliveryTTL ?? leaseTTL, leaseTTL)
        self.outcomes = outcomes
        self.metrics = metrics
    }

    /// Frees every lease of the agent's host that another run holds, when `run` is new for the host (the agent
    /// restarted: those runs are gone). Returns the tasks put back (or failed after their last attempt).
    @discardableResult
    public func adopt(run: UUID, of agent: AgentPrincipal, now: Date = Date()) async throws -> [AgentTask] {
        guard let host = agent.computeMachineId ?? agent.cloudBoxId, runs.isNew(run, for: host, now: now) else { return [] }
        // Long-polls the earlier runs left waiting here wake and take nothing; other replicas learn of the run.
        notifier.notify(host)
        var released: [AgentTask] = []
        do {
            try await tasks.announce(run: run, of: host, since: now)
            for task in try await tasks.leasedByOtherRuns(computeMachineId: agent.computeMachineId, cloudBoxId: agent.cloudBoxId, run: run) {
                guard let next = TaskLifecycle.release(task, now: now),
                      try await tasks.update(next, expecting: task.status, holder: task.leaseHolder, advancing: progress(of: next, now: now))
                else { continue }
                count(next)
                if next.status.isTerminal { await outcomes.handle(next) }
                released.append(next)
            }
        } catch {
            runs.forget(host)
            throw error
        }
        return released
    }

    /// Whether `run` is still its host's agent run (true without a run: an agent that does not say).
    public func isCurrent(_ run: UUID?, of agent: AgentPrincipal) -> Bool {
        guard let run, let host = agent.computeMachineId ?? agent.cloudBoxId else { return true }
        return runs.isCurrent(run, for: host)
    }

    /// Another replica adopted `run` for `host` at `since` (`TaskWakeChannel`): this replica's waiting polls of
    /// earlier runs wake and take nothing.
    public func supersede(_ host: UUID, by run: UUID, since: Date) {
        if runs.supersede(host, by: run, since: since) { notifier.notify(host) }
    }

    /// Leases the host's queued tasks (oldest first, at most `limit`) to `run` for the delivery window. A run that
    /// a newer one has replaced gets nothing: its agent is gone, and what it leased would wait out the delivery
    /// window. (Leased just as the new run adopted: the leases are withdrawn, the attempt not counted.)
    ///
    /// The queued tasks are read outside any transaction first (`TaskRepository.lease`): the writer is not taken
    /// when the host has nothing queued (most polls), nor for the read when it has.
    public func lease(for agent: AgentPrincipal, run: UUID? = nil, now: Date = Date(), limit: Int = TaskQueue.tasksPerPoll) async throws -> [AgentTask] {
        guard isCurrent(run, of: agent) else { return [] }
        let ttl = deliveryTTL
        let leased = try await tasks.lease(
            computeMachineId: agent.computeMachineId, cloudBoxId: agent.cloudBoxId, limit: limit,
            { TaskLifecycle.lease($0, now: now, ttl: ttl, holder: run) },
            operation: { TaskLifecycle.apply($0, to: $1, now: now) })
        if !leased.isEmpty, !isCurrent(run, of: agent) {
            try await withdraw(leased, from: run, now: now)
            return []
        }
        return leased
    }

    /// The tasks a transaction handed this host's waiting poll, leased to `run` (`WorkDispatcher`): all of them
    /// while `run` is current; otherwise none, and they are withdrawn as `lease` withdraws what a replaced run took.
    public func accept(_ handed: [AgentTask], for agent: AgentPrincipal, run: UUID?, now: Date = Date()) async throws -> [AgentTask] {
        guard !handed.isEmpty else { return [] }
        guard isCurrent(run, of: agent) else {
            try await withdraw(handed, from: run, now: now)
            return []
        }
        return handed
    }

    /// Puts tasks leased to a run that turned out to be replaced back in the queue as they were (the new run's
    /// adoption may have freed them first: then nothing is written), and wakes the host's polls.
    func withdraw(_ leased: [AgentTask], from run: UUID?, now: Date) async throws {
        for task in leased {
            guard let back = TaskLifecycle.withdraw(task, now: now),
                  try await tasks.update(back, expecting: .leased, holder: run, advancing: progress(of: back, now: now)) else { continue }
        }
        for host in Set(leased.compactMap { $0.computeMachineId ?? $0.cloudBoxId }) {
            notifier.notify(host)
            try await tasks.announce(hosts: [host])
        }
    }

    /// The task if it belongs to this agent's host; nil otherwise (a 404 for the caller).
    public func task(_ id: UUID, of agent: AgentPrincipal) async throws -> AgentTask? {
        guard let task = try await tasks.find(id),
              task.computeMachineId == agent.computeMachineId, task.cloudBoxId == agent.cloudBoxId else { return nil }
        return task
    }

    /// Records an event once per (task, sequence) and extends the lease.
    public func record(_ report: TaskEventReport, for task: AgentTask, now: Date = Date()) async throws {
        _ = try await tasks.recordOnce(TaskEvent(
            taskId: task.id, operationId: task.operationId, sequence: report.sequence,
            kind: report.kind, name: String(report.name.prefix(200)), metadata: report.metadata))
        if let extended = TaskLifecycle.extend(task, now: now, ttl: leaseTTL) {
            _ = try await tasks.update(extended, expecting: task.status)
        }
    }

    /// Finishes the task with the agent's result; a second result changes nothing (nor does one that loses the
    /// conditional update to another change of the task).
    public func finish(_ task: AgentTask, with report: TaskResultReport, now: Date = Date()) async throws {
        guard let finished = TaskLifecycle.finish(task, with: report, now: now),
              try await tasks.update(finished, expecting: task.status, advancing: progress(of: finished, now: now)) else { return }
        count(finished)
        await outcomes.handle(finished)
    }

    /// Puts back (or fails) every task whose lease ran out; wakes the hosts of those put back.
    public func expireLeases(now: Date = Date()) async throws {
        for task in try await tasks.expiredLeases(now: now, limit: 1000) {
            guard let next = TaskLifecycle.expire(task, now: now),
                  try await tasks.update(next, expecting: task.status, advancing: progress(of: next, now: now)) else { continue }
            count(next)
            if next.status == .queued, let host = next.computeMachineId ?? next.cloudBoxId {
                notifier.notify(host)
                try await tasks.announce(hosts: [host])
            }
            if next.status.isTerminal { await outcomes.handle(next) }
        }
    }

    /// What a cancel did: the operation after it, and its steps by where they stand (names as in `steps`).
    public struct Cancellation: Codable, Sendable {
        public var operation: ZedgeCore.Operation
        /// Steps whose tasks this cancel withdrew: no agent will carry them out.
        public var cancelledSteps: [String]
        /// Steps already done (SUCCEEDED or SKIPPED): not undone.
        public var doneSteps: [String]
        /// Steps an agent is carrying out: they finish, and the operation ends when they do.
        public var runningSteps: [String]
        /// Steps still to run that a cancel does not withdraw: deletes (`TaskLifecycle.isCancellable`).
        public var keptSteps: [String]
        /// Steps that had already failed.
        public var failedSteps: [String]
    }

    /// Cancels what the operation has not started: each of its QUEUED tasks (but deletes) becomes CANCELLED, with a
    /// conditional update, so that a task an agent leases at the same moment is either cancelled or carried out,
    /// never both. Their outcomes go to the handlers as any finished task's do (an instance goes back to where the
    /// request found it: `InstanceLifecycle.afterCancel`). The operation is CANCELLED once nothing of it runs.
    /// - Throws: `DomainError` notFound for no such operation; conflict when it has already ended.
    public func cancel(_ operationId: UUID, by username: String, now: Date = Date()) async throws -> Cancellation {
        guard let operation = try await tasks.operation(operationId) else { throw DomainError.notFound("Operation") }
        guard !operation.status.isTerminal else {
            throw DomainError.conflict("The operation has already ended: it is \(operation.status.rawValue).", field: "status")
        }
        var cancelled: [AgentTask] = []
        for task in try await tasks.tasks(operationId: operationId) {
            guard let next = TaskLifecycle.cancel(task, reason: "cancelled by \(username)", now: now),
                  try await tasks.update(next, expecting: .queued, advancing: progress(of: next, now: now)) else { continue }
            metrics?.taskCancelled(next.kind)
            cancelled.append(next)
        }
        for task in cancelled { await outcomes.handle(task) }
        let after = try await tasks.operation(operationId) ?? operation
        func steps(_ statuses: Set<StepStatus>) -> [String] { after.steps.filter { statuses.contains($0.status) }.map(\.name) }
        return Cancellation(
            operation: after, cancelledSteps: steps([.cancelled]), doneSteps: steps([.succeeded, .skipped]),
            runningSteps: steps([.running]), keptSteps: steps([.pending]), failedSteps: steps([.failed]))
    }

    public func operation(_ id: UUID) async throws -> ZedgeCore.Operation? {
        try await tasks.operation(id)
    }

    /// Counts a task this queue just wrote: QUEUED again after a lease (a retry), or FAILED.
    func count(_ task: AgentTask) {
        switch task.status {
        case .queued: metrics?.taskRetried(task.kind)
        case .failed: metrics?.taskFailed(task.kind)
        default: break
        }
    }

    /// How the task, as just changed, moves its operation along (step status, weighted progress, overall status):
    /// written with the task, in its transaction (`TaskRepository.update(_:expecting:advancing:)`).
    func progress(of task: AgentTask, now: Date) -> @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation {
        { TaskLifecycle.apply(task, to: $0, now: now) }
    }
}
