import Foundation
import Synchronization

/// Wakes the long-polls waiting for a host the moment a task is queued for it. In process; no database
/// polling; with several PostgreSQL replicas `TaskWakeListener` forwards wake-ups that came through others.
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

    fileprivate let waiters = Mutex<[UUID: [ObjectIdentifier: Signal]]>([:])
    private let closed = Atomic<Bool>(false)
    /// Hosts known to have no agent call waiting (`AgentCallBroker`): their long-polls skip the read for calls.
    /// A host not in it may have one (every host, when the process starts).
    private let withoutCalls = Mutex<Set<UUID>>([])

    public init() {}

    /// A call was stored for `host` (here or, with PostgreSQL, through another replica): its long-polls look
    /// for calls again, and wake. Call it after the call has committed.
    public func notifyCall(_ host: UUID) {
        markCalls(host)
        notify(host)
    }

    /// `host` may have calls waiting (a read for them failed, or found as many as it could take).
    public func markCalls(_ host: UUID) {
        _ = withoutCalls.withLock { $0.remove(host) }
    }

    /// Whether `host` may have calls waiting; from now on it is taken to have none until `markCalls`. Taken before
    /// the read, so that a call stored after the read began marks the host again (and wakes it).
    public func takeCallMark(_ host: UUID) -> Bool {
        withoutCalls.withLock { $0.insert(host).inserted }
    }

    /// Takes every host to maybe have calls and wakes every wait: wake-ups from other replicas may have been
    /// lost (`TaskWakeListener` was not listening yet, or its connection was down). Later waits are not affected.
    public func resynchronize() {
        withoutCalls.withLock { $0.removeAll() }
        wakeAll()
    }

    /// Wakes every wait for `host`.
    public func notify(_ host: UUID) {
        let signals = waiters.withLock { $0.removeValue(forKey: host) } ?? [:]
        for signal in signals.values { signal.fire() }
    }

    /// Wakes every wait now and makes later ones return at once: the coordinator is shutting down, and
    /// long-polls must not hold its graceful shutdown for their whole wait.
    public func close() {
        closed.store(true, ordering: .sequentiallyConsistent)
        wakeAll()
    }

    private func wakeAll() {
        let all = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters.values.flatMap(\.values)
        }
        for signal in all { signal.fire() }
    }

    /// A waiter registered before its caller looks for work: a `notify` that comes between the look and the
    /// wait is kept, not lost (the wait then returns at once).
    public final class Subscription: Sendable {
        let notifier: TaskNotifier
        let host: UUID
        let signal: Signal

        init(notifier: TaskNotifier, host: UUID, signal: Signal) {
            self.notifier = notifier
            self.host = host
            self.signal = signal
        }

        /// Returns when the host was notified since `subscribe` (at once if it already was), or after
        /// `timeout`, whichever comes first: true when notified.
        @discardableResult
        public func wait(timeout: Duration) async -> Bool {
            let signal = self.signal
            return await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                group.addTask {
                    await signal.wait()
                    return true
                }
                let notified = await group.next() ?? false
                signal.fire()  // releases the other child if the timer won
                group.cancelAll()
                return notified
            }
        }

        /// Ends the registration (always call it, e.g. in a `defer`).
        public func cancel() {
            notifier.waiters.withLock { waiters in
                waiters[host]?.removeValue(forKey: ObjectIdentifier(signal))
                if waiters[host]?.isEmpty == true { waiters.removeValue(forKey: host) }
            }
        }
    }

    /// Registers for the next `notify(host)`; once closed, the subscription is already notified.
    public func subscribe(_ host: UUID) -> Subscription {
        let signal = Signal()
        if closed.load(ordering: .sequentiallyConsistent) {
            signal.fire()
        } else {
            waiters.withLock { $0[host, default: [:]][ObjectIdentifier(signal)] = signal }
            // close() may have run between the check and the registration: it then missed this signal.
            if closed.load(ordering: .sequentiallyConsistent) { signal.fire() }
        }
        return Subscription(notifier: self, host: host, signal: signal)
    }

    /// Returns when `host` is notified or after `timeout`, whichever comes first.
    public func wait(for host: UUID, timeout: Duration) async {
        guard !closed.load(ordering: .sequentiallyConsistent) else { return }
        let subscription = subscribe(host)
        defer { subscription.cancel() }
        await subscription.wait(timeout: timeout)
    }

    var waitingHosts: Int { waiters.withLock { $0.count } }
}
