import Foundation
import SQLKit
import ZedgeCore

/// The per-host task queue on the database: enqueue with its operation, lease with conditional updates (two
/// long-polls never get the same task), idempotent events and results, lease expiry.
public struct TaskQueue: Sendable {
    let database: Database
    let notifier: TaskNotifier
    let leaseTTL: TimeInterval
    /// Told about every task that reaches SUCCEEDED or FAILED (results and expired last attempts).
    public let outcomes: TaskOutcomeRelay
    let tasks = Table<AgentTask>("agent_tasks", resource: "task")
    let operations = Table<ZedgeCore.Operation>("operations", resource: "operation")
    let events = Table<TaskEvent>("task_events", resource: "task event")

    public init(database: Database, notifier: TaskNotifier, leaseTTL: TimeInterval, outcomes: TaskOutcomeRelay = TaskOutcomeRelay()) {
        self.database = database
        self.notifier = notifier
        self.leaseTTL = leaseTTL
        self.outcomes = outcomes
    }

    /// Stores an operation with one step per task, queues the tasks, and wakes their hosts' long-polls.
    public func enqueue(_ operation: ZedgeCore.Operation, tasks newTasks: [AgentTask]) async throws {
        let queue = self
        try await database.transaction { db in try await queue.insert(operation, tasks: newTasks, on: db) }
        wake(newTasks)
    }

    /// Writes the operation and its tasks in the caller's transaction; call `wake` once it has committed.
    public func insert(_ operation: ZedgeCore.Operation, tasks newTasks: [AgentTask], on db: any SQLDatabase) async throws {
        try await operations.insert(operation, on: db)
        for task in newTasks { try await tasks.insert(task, on: db) }
        try await announce(hosts: newTasks.compactMap { $0.computeMachineId ?? $0.cloudBoxId }, on: db)
    }

    /// With PostgreSQL, tells every replica (through NOTIFY, delivered at commit) that these hosts have tasks,
    /// so whichever holds a host's long-poll wakes it (`TaskWakeListener`).
    func announce(hosts: [UUID], on db: any SQLDatabase) async throws {
        guard database.engine == .postgres else { return }
        for host in Set(hosts) {
            try await db.raw("SELECT pg_notify(\(bind: TaskWakeListener.channel), \(bind: host.uuidString))").run()
        }
    }

    /// Wakes the long-polls of the tasks' hosts.
    public func wake(_ newTasks: [AgentTask]) {
        for host in Set(newTasks.compactMap { $0.computeMachineId ?? $0.cloudBoxId }) { notifier.notify(host) }
    }

    /// Leases the host's queued tasks (oldest first, at most `limit`).
    public func lease(for agent: AgentPrincipal, now: Date = Date(), limit: Int = 16) async throws -> [AgentTask] {
        let column = agent.computeMachineId != nil ? "compute_machine_id" : "cloud_box_id"
        let queued = try await database.sql.select().column("*").from("agent_tasks")
            .where(SQLIdentifier(column), .equal, SQLBind(agent.hostId)).where("status", .equal, TaskStatus.queued.rawValue)
            .orderBy("id").limit(limit).all().map { try RowCodec.decode(AgentTask.self, from: $0) }
        var leased: [AgentTask] = []
        for task in queued {
            guard let next = TaskLifecycle.lease(task, now: now, ttl: leaseTTL) else { continue }
            if try await conditionalUpdate(next, expecting: task.status) {
                leased.append(next)
                try await advance(next, now: now)
            }
        }
        return leased
    }

    /// The task if it belongs to this agent's host; nil otherwise (a 404 for the caller).
    public func task(_ id: UUID, of agent: AgentPrincipal) async throws -> AgentTask? {
        guard let task = try await tasks.find(id, on: database.sql),
              task.computeMachineId == agent.computeMachineId, task.cloudBoxId == agent.cloudBoxId else { return nil }
        return task
    }

    /// Records an event once per (task, sequence) and extends the lease.
    public func record(_ report: TaskEventReport, for task: AgentTask, now: Date = Date()) async throws {
        let existing = try await events.first(where: [try .equal("taskId", task.id), try .equal("sequence", report.sequence)], on: database.sql)
        if existing == nil {
            do {
                try await events.insert(TaskEvent(taskId: task.id, operationId: task.operationId, sequence: report.sequence,
                                                  kind: report.kind, name: String(report.name.prefix(200)), metadata: report.metadata), on: database.sql)
            } catch let problem as Problem where problem.status == .conflict {
                // The same event raced in twice: recorded once.
            }
        }
        if let extended = TaskLifecycle.extend(task, now: now, ttl: leaseTTL) {
            _ = try await conditionalUpdate(extended, expecting: task.status)
        }
    }

    /// Finishes the task with the agent's result; a second result changes nothing. Returns the task as it is.
    public func finish(_ task: AgentTask, with report: TaskResultReport, now: Date = Date()) async throws -> AgentTask {
        guard let finished = TaskLifecycle.finish(task, with: report, now: now) else { return task }
        guard try await conditionalUpdate(finished, expecting: task.status) else {
            return try await tasks.find(task.id, on: database.sql) ?? task
        }
        try await advance(finished, now: now)
        await outcomes.publish(finished)
        return finished
    }

    /// Puts back (or fails) every task whose lease ran out; wakes the hosts of those put back.
    public func expireLeases(now: Date = Date()) async throws {
        let stale = try await database.sql.select().column("*").from("agent_tasks")
            .where("status", .equal, TaskStatus.leased.rawValue).where("lease_expires_at", .lessThanOrEqual, now)
            .limit(1000).all().map { try RowCodec.decode(AgentTask.self, from: $0) }
        for task in stale {
            guard let next = TaskLifecycle.expire(task, now: now), try await conditionalUpdate(next, expecting: task.status) else { continue }
            try await advance(next, now: now)
            if next.status == .queued, let host = next.computeMachineId ?? next.cloudBoxId {
                notifier.notify(host)
                try await announce(hosts: [host], on: database.sql)
            }
            if next.status.isTerminal { await outcomes.publish(next) }
        }
    }

    public func operation(_ id: UUID) async throws -> ZedgeCore.Operation? {
        try await operations.find(id, on: database.sql)
    }

    /// Writes `task` only if it is still in the status it was read in (optimistic; the loser re-reads).
    func conditionalUpdate(_ task: AgentTask, expecting status: TaskStatus) async throws -> Bool {
        var query = database.sql.update("agent_tasks")
        for (column, value) in try RowCodec.columns(of: task) where column != "id" {
            query = query.set(SQLIdentifier(column), to: value)
        }
        return try await query.where("id", .equal, task.id).where("status", .equal, status.rawValue)
            .returning("id").all().count == 1
    }

    /// Moves the task's operation along (step status, weighted progress, overall status).
    func advance(_ task: AgentTask, now: Date) async throws {
        guard let operationId = task.operationId else { return }
        let operations = self.operations
        try await database.transaction { db in
            guard let operation = try await operations.find(operationId, on: db) else { return }
            _ = try await operations.update(TaskLifecycle.apply(task, to: operation, now: now), on: db)
        }
    }
}

/// Lease expiry, once a second.
public struct TaskLeaseService: Service {
    let queue: TaskQueue
    let leadership: Leadership
    let logger: Logger

    public init(queue: TaskQueue, leadership: Leadership = Leadership(leading: true), logger: Logger) {
        self.queue = queue
        self.leadership = leadership
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { break }
            guard leadership.isLeader else { continue }
            do { try await queue.expireLeases() } catch {
                logger.error("lease expiry failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}

import Logging
import ServiceLifecycle
