import Foundation
import Logging
import ZedgeCore

/// Long-polls the coordinator for this host's tasks and runs them through the journal: a task is journaled
/// before it runs, its result is journaled before it is sent, and marked acknowledged once the coordinator
/// has it. After a crash, results not yet acknowledged are sent again, and a task delivered again is
/// recognised: finished ones are not run twice, interrupted ones are run again (every operation is idempotent).
public struct TaskLoop: Sendable {
    let poller: CoordinatorClient
    let reporter: CoordinatorClient
    let journal: TaskJournal
    let journalQueue = BlockingQueue(label: "zedge.agent.journal")
    let executor: TaskExecutor
    let logger: Logger
    let pollWait: Int

    public init(poller: CoordinatorClient, reporter: CoordinatorClient, journal: TaskJournal, executor: TaskExecutor,
                pollWait: Int = 30, logger: Logger) {
        self.poller = poller
        self.reporter = reporter
        self.journal = journal
        self.executor = executor
        self.pollWait = pollWait
        self.logger = logger
    }

    public func run() async throws {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            do {
                try await resendUnacknowledged()
                let tasks = try await poller.poll(wait: pollWait)
                backoff.reset()
                for task in tasks { try await handle(task) }
            } catch let refusal as CoordinatorClient.Refusal where refusal.status == 401 {
                throw AgentError("the coordinator refused this agent's credential (\(refusal.detail)); register it again")
            } catch is CancellationError {
                return
            } catch {
                let delay = backoff.nextDelay(using: &random)
                logger.warning("task poll failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    func handle(_ task: TaskAssignment) async throws {
        var entry = try await journaled { try $0.received(id: task.id, kind: task.kind, payload: task.payload, attempt: task.attempt) }
        if entry.state != .finished {
            logger.info("running task", metadata: ["task": "\(task.id)", "kind": "\(task.kind.rawValue)", "attempt": "\(task.attempt)"])
            _ = try await journaled { try $0.started(id: task.id) }
            try? await reporter.event(task.id, TaskEventReport(sequence: task.attempt, kind: .step, name: "started"))
            let report = await executor.execute(task.kind, payload: task.payload)
            FaultInjection.point(.afterExecute)
            entry = try await journaled { try $0.finished(id: task.id, outcome: report.outcome, error: report.error, observed: report.observed) }
        } else {
            logger.info("task delivered again; sending its journaled result", metadata: ["task": "\(task.id)"])
        }
        if let report = entry.resultReport {
            try await send(task.id, report)
        }
    }

    func resendUnacknowledged() async throws {
        for entry in try await journaled({ try $0.unacknowledgedResults() }) {
            if let report = entry.resultReport { try await send(entry.id, report) }
        }
    }

    func send(_ id: UUID, _ report: TaskResultReport) async throws {
        do {
            try await reporter.result(id, report)
        } catch let refusal as CoordinatorClient.Refusal where refusal.status == 404 {
            logger.warning("the coordinator no longer knows this task; dropping its result", metadata: ["task": "\(id)"])
        }
        _ = try await journaled { try $0.acknowledged(id: id) }
    }

    /// Journal calls block on SQLite (fsync for synchronous=FULL): they run on the journal's own queue.
    func journaled<T: Sendable>(_ body: @escaping @Sendable (TaskJournal) throws -> T) async throws -> T {
        let journal = self.journal
        return try await journalQueue.run { try body(journal) }
    }
}
