import Foundation
import Synchronization

/// Wakes the long-polls waiting for a host the moment a task is queued for it. In process; no database
/// polling. (With several PostgreSQL replicas, LISTEN/NOTIFY is to forward the wake-up: not yet.)
public final class TaskNotifier: Sendable {
    /// Fires once; a wait that starts after it fired returns at once.
    final class Signal: Sendable {
        private let state = Mutex<(fired: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

        func fire() {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.fired = true
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume()
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { state -> Bool in
                    if !state.fired { state.continuation = continuation }
                    return state.fired
                }
                if fired { continuation.resume() }
            }
        }
    }

    private let waiters = Mutex<[UUID: [ObjectIdentifier: Signal]]>([:])

    public init() {}

    /// Wakes every wait for `host`.
    public func notify(_ host: UUID) {
        let signals = waiters.withLock { $0.removeValue(forKey: host) } ?? [:]
        for signal in signals.values { signal.fire() }
    }

    /// Returns when `host` is notified or after `timeout`, whichever comes first.
    public func wait(for host: UUID, timeout: Duration) async {
        let signal = Signal()
        waiters.withLock { $0[host, default: [:]][ObjectIdentifier(signal)] = signal }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await signal.wait() }
            await group.next()
            signal.fire()  // releases the other child if the timer won
            group.cancelAll()
        }
        waiters.withLock { waiters in
            waiters[host]?.removeValue(forKey: ObjectIdentifier(signal))
            if waiters[host]?.isEmpty == true { waiters.removeValue(forKey: host) }
        }
    }

    var waitingHosts: Int { waiters.withLock { $0.count } }
}
