import Foundation
import Synchronization
import ZedgeCore

/// The one path by which work reaches agents: an `OperationPlan` becomes an Operation with its steps and
/// tasks, written in the caller's transaction, and the tasks' hosts are woken once that transaction has
/// committed (never before: a woken long-poll must find the task).
///
/// When a host's long-poll waits in this process (`TaskNotifier.reserve`), its new tasks are written already
/// leased to the poll's run, for `handoffTTL` (the queue's delivery window), and handed to the poll after commit:
/// the woken poll answers without reading them back and without a transaction of its own (issue #14: the wake
/// took a read on a reader and a turn of the writer after the enqueue's commit). A task handed to a poll that
/// turns out to be of a replaced run is withdrawn by it (`TaskQueue.accept`), as a lease of such a run is.
public struct WorkDispatcher: Sendable {
    let transactions: Transactions
    let tasks: any TaskRepository
    let notifier: TaskNotifier
    /// The lease a task handed to a waiting poll gets; nil: tasks are always queued, and polls lease them.
    let handoffTTL: TimeInterval?

    public init(transactions: Transactions, tasks: any TaskRepository, notifier: TaskNotifier, handoffTTL: TimeInterval? = nil) {
        self.transactions = transactions
        self.tasks = tasks
        self.notifier = notifier
        self.handoffTTL = handoffTTL
    }

    /// The waiting polls a transaction reserved, by host, and what it leased to each (as it will be stored).
    /// Made outside the transaction, so that they are settled however it ends (a failed COMMIT included).
    final class Handoffs: Sendable {
        struct Entry {
            let reservation: TaskNotifier.Reservation?
            var tasks: [AgentTask] = []
        }
        private let entries = Mutex<[UUID: Entry]>([:])

        /// The reservation for `host` (made on first ask; nil when no poll of it waits here).
        func reservation(for host: UUID, from notifier: TaskNotifier) -> TaskNotifier.Reservation? {
            entries.withLock { entries in
                if let entry = entries[host] { return entry.reservation }
                let reservation = notifier.reserve(host)
                entries[host] = Entry(reservation: reservation)
                return reservation
            }
        }

        /// Whether the poll reserved for `host` may take one more task (`TaskQueue.tasksPerPoll`).
        func hasRoom(for host: UUID) -> Bool {
            entries.withLock { ($0[host]?.tasks.count ?? 0) < TaskQueue.tasksPerPoll }
        }

        func leased(_ task: AgentTask, to host: UUID) {
            entries.withLock { $0[host]?.tasks.append(task) }
        }

        /// Hands each reserved poll its tasks (committed), or gives the reservations back (`committed` false).
        func settle(committed: Bool) {
            let all = entries.withLock { entries in
                defer { entries.removeAll() }
                return Array(entries.values)
            }
            for entry in all { entry.reservation?.settle(handing: committed ? entry.tasks : []) }
        }
    }

    /// Collects what a transaction submits, to wake the hosts after commit.
    public final class Submissions: Sendable {
        let dispatcher: WorkDispatcher
        let tx: Transaction
        let handoffs: Handoffs
        fileprivate let queued = Mutex<[AgentTask]>([])

        init(dispatcher: WorkDispatcher, tx: Transaction, handoffs: Handoffs) {
            self.dispatcher = dispatcher
            self.tx = tx
            self.handoffs = handoffs
        }

        /// Writes the plan's operation and tasks in this transaction; returns the operation.
        @discardableResult
        public func submit(_ plan: OperationPlan, now: Date) async throws -> ZedgeCore.Operation {
            try await write(plan, now: now).operation
        }

        /// As `submit`, with the tasks as queued.
        public func submitWithTasks(_ plan: OperationPlan, now: Date) async throws -> (operation: ZedgeCore.Operation, tasks: [AgentTask]) {
            let (operation, tasks, payloadTexts, handed) = try await write(plan, now: now)
            // Each task as stored: a payload the plan held as text is parsed now (once: a handed one already was).
            let stored = try tasks.map { task in
                var task = task
                if let payload = handed[task.id] {
                    task.payload = payload
                } else if let text = payloadTexts[task.id] {
                    task.payload = try JSONValue(parsing: text)
                }
                return task
            }
            return (operation, stored)
        }

        /// Writes the plan; `handed` holds the payloads parsed for the tasks handed to a waiting poll.
        private func write(_ plan: OperationPlan, now: Date) async throws
            -> (operation: ZedgeCore.Operation, tasks: [AgentTask], payloadTexts: [UUID: String], handed: [UUID: JSONValue]) {
            try WorkDispatcher.check(plan)
            var (operation, tasks, payloadTexts) = plan.build(now: now)
            var handedPayloads: [UUID: JSONValue] = [:]
            if let ttl = dispatcher.handoffTTL {
                for index in tasks.indices {
                    guard let host = tasks[index].computeMachineId ?? tasks[index].cloudBoxId,
                          let reservation = handoffs.reservation(for: host, from: dispatcher.notifier), handoffs.hasRoom(for: host),
                          let leased = TaskLifecycle.lease(tasks[index], now: now, ttl: ttl, holder: reservation.run) else { continue }
                    tasks[index] = leased
                    operation = TaskLifecycle.apply(leased, to: operation, now: now)
                    // As the poll would have read it back: the payload parsed from the text stored.
                    var handed = leased
                    if let text = payloadTexts[leased.id] {
                        handed.payload = try JSONValue(parsing: text)
                        handedPayloads[leased.id] = handed.payload
                    }
                    handoffs.leased(handed, to: host)
                }
            }
            try await dispatcher.tasks.insert(operation, tasks: tasks, payloadTexts: payloadTexts, in: tx)
            queued.withLock { $0 += tasks }
            return (operation, tasks, payloadTexts, handedPayloads)
        }
    }

    /// Runs `body` in one transaction; every plan it submits is written in that transaction, and the hosts
    /// of their tasks are woken after it commits (not at all when it rolls back). `brief`: see `Database.transaction`.
    public func transaction<T: Sendable>(
        brief: Bool = false, _ body: @escaping @Sendable (Transaction, Submissions) async throws -> T
    ) async throws -> T {
        let dispatcher = self
        let handoffs = Handoffs()
        let result: T, submitted: [AgentTask]
        do {
            (result, submitted) = try await transactions.run(brief: brief) { tx in
                let submissions = Submissions(dispatcher: dispatcher, tx: tx, handoffs: handoffs)
                let result = try await body(tx, submissions)
                return (result, submissions.queued.withLock { $0 })
            }
        } catch {
            handoffs.settle(committed: false)
            throw error
        }
        handoffs.settle(committed: true)
        wake(submitted)
        return result
    }

    /// Submits one plan in a transaction of its own.
    @discardableResult
    public func submit(_ plan: OperationPlan, now: Date = Date()) async throws -> ZedgeCore.Operation {
        try await transaction(brief: true) { _, submissions in try await submissions.submit(plan, now: now) }
    }

    /// As `submit`, with the tasks as queued.
    public func submitWithTasks(_ plan: OperationPlan, now: Date = Date()) async throws -> (operation: ZedgeCore.Operation, tasks: [AgentTask]) {
        try await transaction(brief: true) { _, submissions in try await submissions.submitWithTasks(plan, now: now) }
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

    /// Wakes the hosts of the tasks left QUEUED (those handed to a poll have reached it).
    func wake(_ tasks: [AgentTask]) {
        for host in Set(tasks.filter { $0.status == .queued }.compactMap { $0.computeMachineId ?? $0.cloudBoxId }) { notifier.notify(host) }
    }
}
