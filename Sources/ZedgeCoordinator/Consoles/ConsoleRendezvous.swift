import Foundation
import Synchronization

/// Where the two halves of a console tunnel meet on one replica (issue #16): the user's WebSocket waits here,
/// by session id, for the WebSocket that the host's agent dials back, and each gets the other's `Leg`.
/// In memory: the agent is told to dial the replica that holds the user's side (`ConsoleOpenCall.dialURL`).
public final class ConsoleRendezvous<Leg: Sendable>: Sendable {
    private struct Waiting {
        let computeMachineId: UUID
        let userLeg: Leg
        let continuation: CheckedContinuation<Leg, any Error>
    }

    private struct Table {
        var waiting: [UUID: Waiting] = [:]
        /// Withdrawals that came before their session started waiting (the agent refused at once).
        var refused: [UUID: any Error] = [:]
    }

    private let waiting = Mutex<Table>(Table())

    public init() {}

    /// Waits up to `timeout` for the agent of `computeMachineId` to arrive for `session`, handing it `userLeg`;
    /// returns the agent's leg. Throws `DomainError.unavailable` on timeout, `CancellationError` when cancelled.
    /// `onWaiting` runs once the session waits, so that what makes the agent come (the call) starts after that.
    public func awaitAgent(session: UUID, computeMachineId: UUID, userLeg: Leg, timeout: Duration,
                           onWaiting: @escaping @Sendable () -> Void = {}) async throws -> Leg {
        defer { waiting.withLock { _ = $0.refused.removeValue(forKey: session) } }
        return try await withThrowingTaskGroup(of: Leg.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        // Under the lock that `withdraw` takes: a cancellation before this point is seen here.
                        let refusal = self.waiting.withLock { table -> (any Error)? in
                            if Task.isCancelled { return CancellationError() }
                            if let refused = table.refused.removeValue(forKey: session) { return refused }
                            table.waiting[session] = Waiting(computeMachineId: computeMachineId, userLeg: userLeg, continuation: continuation)
                            return nil
                        }
                        if let refusal { continuation.resume(throwing: refusal) } else { onWaiting() }
                    }
                } onCancel: {
                    self.withdraw(session, with: CancellationError())
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw DomainError.unavailable("The host's agent did not open its side of the console within \(Int(timeout.seconds)) s.")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// The agent's side arrives: the user's leg when `session` waits for this machine's agent, else nil (no such
    /// session here, another host's, or it gave up).
    public func arrive(session: UUID, computeMachineId: UUID, agentLeg: Leg) -> Leg? {
        let found: Waiting? = waiting.withLock { table in
            guard let entry = table.waiting[session], entry.computeMachineId == computeMachineId else { return nil }
            table.waiting[session] = nil
            return entry
        }
        guard let found else { return nil }
        found.continuation.resume(returning: agentLeg)
        return found.userLeg
    }

    /// Whether `session` waits for the agent of `computeMachineId` now.
    public func isWaiting(session: UUID, computeMachineId: UUID) -> Bool {
        waiting.withLock { $0.waiting[session]?.computeMachineId == computeMachineId }
    }

    /// Gives up waiting for `session` (the user left, or the agent answered that it cannot).
    public func withdraw(_ session: UUID, with error: any Error) {
        let entry = waiting.withLock { table -> Waiting? in
            if let entry = table.waiting.removeValue(forKey: session) { return entry }
            // Bounded: a refusal nobody waits for any more (the wait timed out) is not kept for ever.
            if !(error is CancellationError), table.refused.count < 1024 { table.refused[session] = error }
            return nil
        }
        entry?.continuation.resume(throwing: error)
    }
}
