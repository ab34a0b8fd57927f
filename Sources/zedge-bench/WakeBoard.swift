import Foundation
import Synchronization

/// Where the long-poll loops and the wake-latency sampler meet: which agents hold a long-poll right now,
/// and, for the agent a sample enqueued a task for, when its long-poll answered with which tasks.
final class WakeBoard: Sendable {
    struct Arrival: Sendable {
        var at: ContinuousClock.Instant
        var taskIds: [UUID]
    }

    private enum Slot {
        case expecting
        case arrived(Arrival)
        case waiting(CheckedContinuation<Arrival?, Never>)
    }

    private struct State {
        var heldSince: [ContinuousClock.Instant?]
        var held = 0
        var slots: [Int: Slot] = [:]
    }

    private let state: Mutex<State>

    init(agents: Int) {
        state = Mutex(State(heldSince: Array(repeating: nil, count: agents)))
    }

    /// Agent `index` has sent its long-poll.
    func polling(_ index: Int) {
        let now = ContinuousClock.now
        state.withLock { state in
            if state.heldSince[index] == nil { state.held += 1 }
            state.heldSince[index] = now
        }
    }

    /// Agent `index`'s long-poll answered (or failed).
    func answered(_ index: Int) {
        state.withLock { state in
            if state.heldSince[index] != nil { state.held -= 1 }
            state.heldSince[index] = nil
        }
    }

    var held: Int { state.withLock { $0.held } }

    /// A random agent whose long-poll has been out for at least `age` and that no sample is waiting on.
    func pickHeld(olderThan age: Duration) -> Int? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard !state.heldSince.isEmpty else { return nil }
            for _ in 0..<200 {
                let index = Int.random(in: 0..<state.heldSince.count)
                if let since = state.heldSince[index], now - since >= age, state.slots[index] == nil { return index }
            }
            return nil
        }
    }

    /// A sample is about to enqueue a task for agent `index`: keep its next arrival.
    func expect(_ index: Int) {
        state.withLock { $0.slots[index] = .expecting }
    }

    /// Agent `index`'s long-poll answered with tasks at `at`.
    func arrived(_ index: Int, taskIds: [UUID], at: ContinuousClock.Instant) {
        let arrival = Arrival(at: at, taskIds: taskIds)
        let waiting = state.withLock { state -> CheckedContinuation<Arrival?, Never>? in
            switch state.slots[index] {
            case .expecting:
                state.slots[index] = .arrived(arrival)
                return nil
            case .waiting(let continuation):
                state.slots[index] = nil
                return continuation
            case .arrived, nil:
                return nil
            }
        }
        waiting?.resume(returning: arrival)
    }

    /// The arrival a sample expects for agent `index`, or nil after `timeout`.
    func arrival(_ index: Int, timeout: Duration) async -> Arrival? {
        await withTaskGroup(of: Arrival?.self) { group in
            group.addTask { await self.awaitArrival(index) }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    self.forget(index)
                } catch {}
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            // The sleeper, if it lost, ends cancelled; the waiter, if it lost, was resumed by forget.
            return first
        }
    }

    private func awaitArrival(_ index: Int) async -> Arrival? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Arrival?, Never>) in
            let ready = state.withLock { state -> Arrival?? in
                switch state.slots[index] {
                case .arrived(let arrival):
                    state.slots[index] = nil
                    return .some(arrival)
                case .expecting:
                    state.slots[index] = .waiting(continuation)
                    return .none
                case .waiting, nil:
                    return .some(nil)  // given up already
                }
            }
            if case .some(let arrival) = ready { continuation.resume(returning: arrival) }
        }
    }

    /// Drops the expectation for agent `index` (a waiting sample gets nil).
    func forget(_ index: Int) {
        let waiting = state.withLock { state -> CheckedContinuation<Arrival?, Never>? in
            defer { state.slots[index] = nil }
            if case .waiting(let continuation) = state.slots[index] { return continuation }
            return nil
        }
        waiting?.resume(returning: nil)
    }
}
