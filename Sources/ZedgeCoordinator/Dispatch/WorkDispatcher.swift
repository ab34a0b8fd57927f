import Foundation
import Synchronization
import ZedgeCore

/// The one path by which work reaches agents: an `OperationPlan` becomes an Operation with its steps and
/// tasks, written in the caller's transaction, and the tasks' hosts are woken once that transaction has
/// committed (never before: a woken long-poll must find the task).
public struct WorkDispatcher: Sendable {
    let transactions: Transactions
    let tasks: any TaskRepository
    let notifier: TaskNotifier

    public init(transactions: Transactions, tasks: any TaskRepository, notifier: TaskNotifier) {
        self.transactions = transactions
        self.tasks = tasks
        self.notifier = notifier
    }

    /// Collects what a transaction submits, to wake the hosts after commit.
    public final class Submissions: Sendable {
        let dispatcher: WorkDispatcher
        let tx: Transaction
        fileprivate let queued = Mutex<[AgentTask]>([])

        init(dispatcher: WorkDispatcher, tx: Transaction) {
            self.dispatcher = dispatcher
            self.tx = tx
        }

        /// Writes the plan's operation and tasks in this transaction; returns the operation.
        @discardableResult
        public func submit(_ plan: OperationPlan, now: Date) async throws -> ZedgeCore.Operation {
            try await write(plan, now: now).operation
        }

        /// As `submit`, with the tasks as queued.
        public func submitWithTasks(_ plan: OperationPlan, now: Date) async throws -> (operation: ZedgeCore.Operation, tasks: [AgentTask]) {
            let (operation, tasks, payloadTexts) = try await write(plan, now: now)
            // Each task as stored: a payload the plan held as text is parsed now.
            let stored = try tasks.map { task in
                var task = task
                if let text = payloadTexts[task.id] { task.payload = try JSONValue(parsing: text) }
                return task
            }
            return (operation, stored)
        }

        private func write(_ plan: OperationPlan, now: Date) async throws
            -> (operation: ZedgeCore.Operation, tasks: [AgentTask], payloadTexts: [UUID: String]) {
            try WorkDispatcher.check(plan)
            let (operation, tasks, payloadTexts) = plan.build(now: now)
            try await dispatcher.tasks.insert(operation, tasks: tasks, payloadTexts: payloadTexts, in: tx)
            queued.withLock { $0 += tasks }
            return (operation, tasks, payloadTexts)
        }
    }

    /// Runs `body` in one transaction; every plan it submits is written in that transaction, and the hosts
    /// of their tasks are woken after it commits (not at all when it rolls back).
    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (Transaction, Submissions) async throws -> T
    ) async throws -> T {
        let dispatcher = self
        let (result, submitted) = try await transactions.run { tx in
            let submissions = Submissions(dispatcher: dispatcher, tx: tx)
            let result = try await body(tx, submissions)
            return (result, submissions.queued.withLock { $0 })
        }
        wake(submitted)
        return result
    }

    /// Submits one plan in a transaction of its own.
    @discardableResult
    public func submit(_ plan: OperationPlan, now: Date = Date()) async throws -> ZedgeCore.Operation {
        try await transaction { _, submissions in try await submissions.submit(plan, now: now) }
    }

    /// As `submit`, with the tasks as queued.
    public func submitWithTasks(_ plan: OperationPlan, now: Date = Date()) async throws -> (operation: ZedgeCore.Operation, tasks: [AgentTask]) {
        try await transaction { _, submissions in try await submissions.submitWithTasks(plan, now: now) }
    }

    /// Every task's payload passes its kind's check (`TaskKind.payloadProblems`, the one the agent runs before
    /// it acts), or nothing is written: a service that built an out-of-range payload (e.g. a `vm.stop` timeout
    /// from a bad setting) gets a 400 naming `payload.<field>` and its transaction rolls back.
    /// A payload typed when it was planned was checked then (`OperationPlan.task(_:for:typed:…)`).
    static func check(_ plan: OperationPlan) throws {
        for case let .task(_, _, _, kind, .value(payload), _, checked) in plan.steps where !checked {
            try refuse(kind, kind.payloadProblems(payload, prefix: "payload"))
        }
    }

    /// Throws the 400 for a `kind` task's payload with `problems`; nothing when there are none.
    static func refuse(_ kind: TaskKind, _ problems: [FieldError]) throws {
        guard problems.isEmpty else {
            throw DomainError(.invalid, "The \(kind.rawValue) task's payload is invalid: " + problems.map(\.description).joined(separator: "; "),
                              title: "Invalid task payload", errors: problems)
        }
    }

    func wake(_ tasks: [AgentTask]) {
        for host in Set(tasks.compactMap { $0.computeMachineId ?? $0.cloudBoxId }) { notifier.notify(host) }
    }
}
