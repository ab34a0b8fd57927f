import Foundation
import ZedgeCore

/// The rules of a task's life and its operation's progress, as pure functions of values and a clock:
/// QUEUED → LEASED (attempt + 1) → SUCCEEDED | FAILED, or QUEUED → CANCELLED before any agent took it; a lease
/// that runs out, or that a new run of its agent frees, puts the task back, or fails it after its last attempt; a
/// result for a finished task changes nothing.
///
/// A lease starts as long as the delivery window and is extended to the full lease by the agent's first event
/// (its acknowledgement of receipt) and every later one.
public enum TaskLifecycle {
    /// Hands the task to `holder` (the agent run, when it says) for `ttl` seconds.
    public static func lease(_ task: AgentTask, now: Date, ttl: TimeInterval, holder: UUID? = nil) -> AgentTask? {
        guard task.status == .queued else { return nil }
        var leased = task
        leased.status = .leased
        leased.attempts += 1
        leased.leaseExpiresAt = now.addingTimeInterval(ttl)
        leased.leaseHolder = holder
        leased.updatedAt = now
        return leased
    }

    /// Progress reported on a leased task extends its lease.
    public static func extend(_ task: AgentTask, now: Date, ttl: TimeInterval) -> AgentTask? {
        guard task.status == .leased else { return nil }
        var extended = task
        extended.leaseExpiresAt = max(task.leaseExpiresAt ?? now, now.addingTimeInterval(ttl))
        extended.updatedAt = now
        return extended
    }

    /// A lease whose holder has gone (its agent came back as a new run): back to the queue at once, or FAILED
    /// when that was its last attempt (the run may have done part of it; every task is idempotent).
    public static func release(_ task: AgentTask, now: Date) -> AgentTask? {
        guard task.status == .leased else { return nil }
        return endLease(task, now: now, lastAttemptError: "its agent restarted during attempt \(task.attempts) of \(task.maxAttempts)")
    }

    /// A lease never handed out (its poll's run had been replaced): QUEUED again, the attempt not counted.
    public static func withdraw(_ task: AgentTask, now: Date) -> AgentTask? {
        guard task.status == .leased else { return nil }
        var queued = task
        queued.status = .queued
        queued.attempts = max(0, task.attempts - 1)
        queued.leaseExpiresAt = nil
        queued.leaseHolder = nil
        queued.updatedAt = now
        return queued
    }

    /// A lease that has run out: back to the queue, or FAILED after the last attempt.
    public static func expire(_ task: AgentTask, now: Date) -> AgentTask? {
        guard task.status == .leased, let expiry = task.leaseExpiresAt, expiry <= now else { return nil }
        return endLease(task, now: now,
                        lastAttemptError: "no result after \(task.attempts) attempt(s): the agent did not finish within its lease")
    }

    /// The task without its lease: QUEUED again, or FAILED with `lastAttemptError` once its attempts are spent.
    static func endLease(_ task: AgentTask, now: Date, lastAttemptError: String) -> AgentTask {
        var ended = task
        ended.leaseExpiresAt = nil
        ended.leaseHolder = nil
        ended.updatedAt = now
        if task.attempts >= task.maxAttempts {
            ended.status = .failed
            ended.error = lastAttemptError
            ended.finishedAt = now
        } else {
            ended.status = .queued
        }
        return ended
    }

    /// The agent's result; nil when the task has already finished (the same result twice changes nothing).
    public static func finish(_ task: AgentTask, with report: TaskResultReport, now: Date) -> AgentTask? {
        guard !task.status.isTerminal else { return nil }
        var finished = task
        finished.status = report.outcome == .succeeded ? .succeeded : .failed
        finished.error = report.error.map { String($0.prefix(2000)) }
        finished.result = report.observed
        finished.leaseExpiresAt = nil
        finished.leaseHolder = nil
        finished.finishedAt = now
        finished.updatedAt = now
        return finished
    }

    /// A queued task withdrawn before any agent took it: CANCELLED, with `reason` as its error. nil for a task already
    /// leased or finished, and for one that is not cancellable.
    public static func cancel(_ task: AgentTask, reason: String, now: Date) -> AgentTask? {
        guard task.status == .queued, isCancellable(task.kind) else { return nil }
        var cancelled = task
        cancelled.status = .cancelled
        cancelled.error = reason
        cancelled.finishedAt = now
        cancelled.updatedAt = now
        return cancelled
    }

    /// Deletes are carried out once accepted (vm.delete, disk.delete): a delete's request has already given up what
    /// the object was to be (an instance's desired status is DELETED), so there is nothing to go back to.
    public static func isCancellable(_ kind: TaskKind) -> Bool { kind != .vmDelete && kind != .diskDelete }

    /// The operation once one of its tasks has moved: its step, progress and overall status. FAILED as soon as a
    /// step fails; SUCCEEDED when every step succeeded or was skipped; CANCELLED when a step was cancelled and none
    /// is still to run or running; RUNNING once a step has started.
    public static func apply(_ task: AgentTask, to operation: ZedgeCore.Operation, now: Date) -> ZedgeCore.Operation {
        var updated = operation
        for index in updated.steps.indices where updated.steps[index].taskId == task.id {
            updated.steps[index].status = switch task.status {
            case .queued: .pending
            case .leased: .running
            case .succeeded: .succeeded
            case .failed: .failed
            case .cancelled: .cancelled
            }
        }
        updated.progress = OperationStep.progress(of: updated.steps)
        if updated.steps.contains(where: { $0.status == .failed }) {
            updated.status = .failed
            updated.error = task.error ?? updated.error
        } else if updated.steps.allSatisfy({ $0.status == .succeeded || $0.status == .skipped }) {
            updated.status = .succeeded
        } else if updated.steps.contains(where: { $0.status == .cancelled }),
                  !updated.steps.contains(where: { $0.status == .pending || $0.status == .running }) {
            updated.status = .cancelled
        } else if updated.steps.contains(where: { $0.status != .pending }) {
            updated.status = .running
        }
        if updated.startedAt == nil, updated.status != .queued { updated.startedAt = now }
        if updated.status.isTerminal, updated.endedAt == nil { updated.endedAt = now }
        updated.updatedAt = now
        return updated
    }
}
