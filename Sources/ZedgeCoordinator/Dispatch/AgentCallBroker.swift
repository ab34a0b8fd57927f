import Foundation
import ZedgeCore

/// Read-only questions for a compute machine's agent that a user waits on (a console log), carried over the
/// agent's own dial-out long-poll like Nova's `get_console_output` RPC call: the call is stored, the host's
/// long-poll is woken (on every replica), the agent answers with `POST /agent/v1/calls/{id}/answer`, and the
/// asker reads the answer. Never journaled and never retried: a call nobody answers in time is dropped.
public struct AgentCallBroker: Sendable {
    let calls: any AgentCallRepository
    let notifier: TaskNotifier
    /// How often the asker looks for the answer (any replica may receive it).
    let pollInterval: Duration

    public init(calls: any AgentCallRepository, notifier: TaskNotifier, pollInterval: Duration = .milliseconds(100)) {
        self.calls = calls
        self.notifier = notifier
        self.pollInterval = pollInterval
    }

    /// Asks the machine's agent and waits up to `timeout` for its answer. 503 when the agent does not
    /// answer in time (the call is then withdrawn).
    public func ask(_ kind: AgentCallKind, payload: JSONValue, computeMachineId: UUID, timeout: Duration, now: Date = Date()) async throws -> AgentCallAnswer {
        let call = AgentCall(id: .v7(), kind: kind, payload: payload, expiresAt: now.addingTimeInterval(timeout.seconds))
        try await calls.insert(call, computeMachineId: computeMachineId, now: now)
        notifier.notifyCall(computeMachineId)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        defer { Task { [calls] in try? await calls.delete(call.id) } }
        while clock.now < deadline {
            if let answer = try await calls.answer(of: call.id) { return answer }
            try await Task.sleep(for: min(pollInterval, clock.now.duration(to: deadline)))
        }
        if let answer = try await calls.answer(of: call.id) { return answer }
        throw DomainError.unavailable(
            "The host's agent did not answer within \(Int(timeout.seconds.rounded())) s; it may be busy or its connection down. Try again.")
    }

    /// The machine's calls waiting to be handed out, each handed out once. Read only when the machine may have
    /// some (`TaskNotifier.takeCallMark`): most long-polls skip it (issue #14).
    public func deliver(to computeMachineId: UUID, now: Date = Date()) async throws -> [AgentCall] {
        guard notifier.takeCallMark(computeMachineId) else { return [] }
        let limit = 16
        do {
            let delivered = try await calls.deliver(computeMachineId: computeMachineId, now: now, limit: limit)
            if delivered.count == limit { notifier.markCalls(computeMachineId) }  // more may wait
            return delivered
        } catch {
            notifier.markCalls(computeMachineId)
            throw error
        }
    }

    /// Records an agent's answer; 404 for a call that is not this machine's, is gone, or was answered.
    public func answer(_ id: UUID, from computeMachineId: UUID, with answer: AgentCallAnswer) async throws {
        guard try await calls.answer(id, computeMachineId: computeMachineId, with: answer) else {
            throw DomainError.notFound("Call")
        }
    }

    /// Drops calls that expired more than a minute ago (an asker that died never withdrew its call).
    public func prune(now: Date) async throws {
        try await calls.deleteExpired(before: now.addingTimeInterval(-60))
    }
}
