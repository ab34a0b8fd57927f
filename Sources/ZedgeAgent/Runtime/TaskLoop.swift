#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
import ZedgeCore

/// Long-polls the coordinator for this host's tasks and calls, and runs them while it keeps polling.
///
/// Tasks run concurrently, but one at a time per VM (`vm.*`, `disk.attach`, `disk.detach` by the VM's UUID),
/// per RBD image (`disk.create`, `disk.resize`, `disk.delete`), per image (`image.fetch` by SHA-256) and per
/// CloudBox, in the order they were delivered; so a long image download holds up neither
/// other VMs' tasks nor console-log calls. Each task goes through the journal: it is journaled before it
/// runs, its result is journaled before it is sent, and marked acknowledged once the coordinator has it.
/// After a crash, results not yet acknowledged are sent again, and a task delivered again is recognised:
/// finished ones are not run twice, interrupted ones are run again (every operation is idempotent).
/// Calls (`TaskPollResponse.calls`, read-only) are answered at once, concurrently, and never journaled.
///
/// Every poll names this process's run (`AgentRun`): after a restart the coordinator frees the leases the
/// previous run held and hands those tasks out again at once. Every task delivered is acknowledged with an event
/// at once (`started`, `waiting`, or `running` for a copy of one that runs), which turns its short delivery lease
/// into a full one.
public struct TaskLoop: Sendable {
    /// This agent process's run: one per process, whatever restarts the loop inside it.
    public static let processRun = UUID()

    let poller: CoordinatorClient
    let reporter: CoordinatorClient
    let journal: TaskJournal
    let journalQueue = BlockingQueue(label: "zedge.agent.journal")
    let executor: TaskExecutor
    let logger: Logger
    let pollWait: Int
    /// How often a long step (an image download) posts a progress event.
    let progressInterval: Duration
    /// The run its polls name (`AgentRun.header`).
    let run: UUID

    public init(poller: CoordinatorClient, reporter: CoordinatorClient, journal: TaskJournal, executor: TaskExecutor,
                pollWait: Int = 30, progressInterval: Duration = .seconds(5), run: UUID = TaskLoop.processRun, logger: Logger) {
        self.run = run
        self.poller = poller
        self.reporter = reporter
        self.journal = journal
        self.executor = executor
        self.pollWait = pollWait
        self.progressInterval = progressInterval
        self.logger = logger
    }

    /// Runs until cancelled (returns once running tasks have stopped) or the credential is refused (throws).
    public func run() async throws {
        let scheduler = TaskScheduler()
        try await withThrowingDiscardingTaskGroup { group in
            var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
            var random = SystemRandomNumberGenerator()
            while !Task.isCancelled {
                do {
                    try await resendUnacknowledged(except: await scheduler.runningIds())
                    let response = try await poller.poll(wait: pollWait, run: run)
                    backoff.reset()
                    for task in response.tasks {
                        guard let turn = await scheduler.admit(task) else {
                            logger.info("task delivered again while it runs; ignoring the copy", metadata: ["task": "\(task.id)"])
                            // Acknowledged all the same: the copy's lease is the delivery window until then.
                            group.addTask { await self.event(task.id, kind: .info, name: "running", metadata: nil) }
                            continue
                        }
                        group.addTask {
                            await self.runInTurn(task, turn)
                            await scheduler.finish(task.id, turn: turn)
                        }
                    }
                    for call in response.calls ?? [] {
                        group.addTask { await self.answer(call) }
                    }
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
    }

    /// Waits for the task's turn, then runs it (`handle`). A task that waits behind another one of its VM is
    /// journaled first and posts a `waiting` event every `progressInterval`, which keeps its lease: otherwise a
    /// task queued behind a long download would be handed out again, and failed after its last attempt.
    /// Failures are logged: a result that could not be sent stays journaled and unacknowledged, and the loop
    /// sends it again before its next poll.
    func runInTurn(_ task: TaskAssignment, _ turn: TaskScheduler.Turn) async {
        do {
            if let previous = turn.previous {
                _ = try await journaled { try $0.received(id: task.id, kind: task.kind, payload: task.payload, attempt: task.attempt) }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await previous.wait() }
                    group.addTask {
                        // At once (the acknowledgement of receipt), then every `progressInterval`.
                        repeat {
                            await self.event(task.id, kind: .info, name: "waiting", metadata: ["for": .string(turn.key)])
                        } while (try? await Task.sleep(for: self.progressInterval)) != nil
                    }
                    await group.next()
                    group.cancelAll()
                }
            }
            try await handle(task)
        } catch is CancellationError {
        } catch {
            logger.warning("task result not delivered yet; will resend", metadata: ["task": "\(task.id)", "error": "\(error)"])
        }
    }

    func handle(_ task: TaskAssignment) async throws {
        try Task.checkCancellation()
        var entry = try await journaled { try $0.received(id: task.id, kind: task.kind, payload: task.payload, attempt: task.attempt) }
        if entry.state != .finished {
            logger.info("running task", metadata: ["task": "\(task.id)", "kind": "\(task.kind.rawValue)", "attempt": "\(task.attempt)"])
            _ = try await journaled { try $0.started(id: task.id) }
            await event(task.id, kind: .step, name: "started", metadata: ["attempt": .number(Double(task.attempt))])
            let progress = TaskProgress(interval: progressInterval) { name, metadata in
                await self.event(task.id, kind: .info, name: name, metadata: metadata)
            }
            let report = await executor.execute(task.kind, payload: task.payload, progress: progress)
            // Stopping: the step was cut short, so its "failure" is not the task's. The entry stays STARTED and
            // the task runs again when it is delivered again.
            if Task.isCancelled { throw CancellationError() }
            FaultInjection.point(.afterExecute)
            entry = try await journaled { try $0.finished(id: task.id, outcome: report.outcome, error: report.error, observed: report.observed) }
            var metadata: Logger.Metadata = ["task": "\(task.id)", "outcome": "\(report.outcome.rawValue)"]
            if let error = report.error { metadata["error"] = "\(error)" }
            logger.info("task finished", metadata: metadata)
        } else {
            logger.info("task delivered again; sending its journaled result", metadata: ["task": "\(task.id)"])
        }
        if let report = entry.resultReport {
            try await send(task.id, report)
        }
    }

    /// Journals an event with the task's next sequence number and posts it (which extends the lease);
    /// a failure to post is logged, never fatal.
    func event(_ id: UUID, kind: EventKind, name: String, metadata: JSONValue?) async {
        do {
            let report = try await journaled { journal in
                let event = TaskEventReport(sequence: try journal.nextEventSequence(taskId: id), kind: kind, name: name, metadata: metadata)
                try journal.recordEvent(taskId: id, event)
                return event
            }
            try await reporter.event(id, report)
            _ = try? await journaled { try $0.eventAcknowledged(taskId: id, sequence: report.sequence) }
        } catch {
            logger.debug("task event not delivered", metadata: ["task": "\(id)", "event": "\(name)", "error": "\(error)"])
        }
    }

    /// Answers a call, unless it has expired already (its answer would be dropped).
    func answer(_ call: AgentCall) async {
        guard call.expiresAt > Date() else {
            logger.info("agent call expired before it could be answered", metadata: ["call": "\(call.id)", "kind": "\(call.kind.rawValue)"])
            return
        }
        let answer = await executor.answer(call)
        do {
            try await reporter.answer(call.id, answer)
        } catch {
            logger.warning("agent call answer not delivered", metadata: ["call": "\(call.id)", "error": "\(error)"])
        }
    }

    func resendUnacknowledged(except running: Set<UUID> = []) async throws {
        for entry in try await journaled({ try $0.unacknowledgedResults() }) where !running.contains(entry.id) {
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

/// Which tasks run, and the order of tasks that share a key (`TaskScheduler.key`).
actor TaskScheduler {
    /// A task's place in its key's line: it runs once `previous` opens, and opens `mine` when done.
    struct Turn: Sendable {
        let key: String
        let previous: Gate?
        let mine: Gate
    }

    private var running: Set<UUID> = []
    private var lastGate: [String: Gate] = [:]

    /// The task's turn, or nil when a task with that id is already admitted (delivered again meanwhile).
    func admit(_ task: TaskAssignment) -> Turn? {
        guard running.insert(task.id).inserted else { return nil }
        let key = Self.key(task)
        let turn = Turn(key: key, previous: lastGate[key], mine: Gate())
        lastGate[key] = turn.mine
        return turn
    }

    func finish(_ id: UUID, turn: Turn) {
        running.remove(id)
        if lastGate[turn.key] === turn.mine { lastGate[turn.key] = nil }
        turn.mine.open()
    }

    func runningIds() -> Set<UUID> { running }

    /// `vm:<uuid>` for `vm.*`, `disk.attach` and `disk.detach` tasks, `disk:<storage pool>/<image>` for the
    /// other `disk.*` kinds, `image:<sha256>` for `image.fetch`, `cloudbox` for `cloudbox.*`; else the task's
    /// own id (no ordering).
    static func key(_ task: TaskAssignment) -> String {
        let p = task.payload
        switch task.kind {
        case .vmCreate:
            if case .string(let uuid)? = p["spec"]?["uuid"] { return "vm:" + uuid.lowercased() }
        case .vmStart, .vmStop, .vmRestart, .vmDelete, .diskAttach, .diskDetach:
            if case .string(let uuid)? = p["vmUuid"] { return "vm:" + uuid.lowercased() }
        case .diskCreate, .diskResize, .diskDelete:
            if case .string(let pool)? = p["cluster"]?["storagePoolId"], case .string(let image)? = p["image"] {
                return "disk:" + pool.lowercased() + "/" + image
            }
        case .imageFetch:
            if case .string(let sha)? = p["image"]?["sha256"] { return "image:" + sha.lowercased() }
        case .cloudboxBind, .cloudboxUnbind, .cloudboxConfigureNetwork, .cloudboxReboot:
            return "cloudbox"
        }
        return "task:" + task.id.uuidString.lowercased()
    }
}

/// A one-shot gate: `wait` returns once `open` has been called (at once if it was).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
