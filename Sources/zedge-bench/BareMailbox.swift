import Foundation
import Synchronization
import ZedgeCoordinator
import ZedgeCore

/// The bare server's whole state, in memory: credentials, and per machine the tasks not yet handed out.
/// Long-polls wait on the coordinator's own `TaskNotifier` (an in-memory continuation per waiter), so the
/// ceiling wakes exactly as the coordinator does, minus the database.
final class BareMailbox: Sendable {
    private struct State {
        var machines: [String: UUID] = [:]
        var order: [UUID] = []
        var turn = 0
        var pending: [UUID: [TaskAssignment]] = [:]
    }

    private let state = Mutex(State())
    let notifier = TaskNotifier()

    init() {}

    /// A new agent: its machine id and credential.
    func register() -> (machineId: UUID, credential: String) {
        let machineId = UUID(), credential = "zac_bare_\(UUID().uuidString.lowercased())"
        state.withLock {
            $0.machines[credential] = machineId
            $0.order.append(machineId)
        }
        return (machineId, credential)
    }

    /// The registered machines in turn (round robin): where the bare server puts an instance.
    func nextMachine() -> UUID? {
        state.withLock { state in
            guard !state.order.isEmpty else { return nil }
            defer { state.turn += 1 }
            return state.order[state.turn % state.order.count]
        }
    }

    /// The machine a `Bearer` credential names.
    func machine(authorization: String?) -> UUID? {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let credential = String(authorization.dropFirst("Bearer ".count))
        return state.withLock { $0.machines[credential] }
    }

    /// Queues a task for `machine` and wakes its long-poll.
    func enqueue(_ task: TaskAssignment, for machine: UUID) {
        state.withLock { $0.pending[machine, default: []].append(task) }
        notifier.notify(machine)
    }

    /// The machine's queued tasks, at once, or after waiting up to `wait` for one.
    func poll(_ machine: UUID, wait: Duration) async -> [TaskAssignment] {
        var tasks = take(machine)
        if tasks.isEmpty, wait > .zero {
            await notifier.wait(for: machine, timeout: wait)
            tasks = take(machine)
        }
        return tasks
    }

    private func take(_ machine: UUID) -> [TaskAssignment] {
        state.withLock { $0.pending.removeValue(forKey: machine) ?? [] }
    }
}
