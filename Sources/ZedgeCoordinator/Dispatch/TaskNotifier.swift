import Foundation
import Synchronization
import ZedgeCore

/// Wakes the long-polls waiting for a host the moment a task is queued for it. In process; no database
/// polling; with several PostgreSQL replicas `TaskWakeListener` forwards wake-ups that came through others.
public final class TaskNotifier: Sendable {
    /// Fires once; a wait that starts after it fired returns at once. While its long-poll waits it may be reserved
    /// by one transaction that queues tasks for the host, which then hands it those tasks, already leased to the
    /// poll's run, when it commits (or gives the reservation back when it rolls back).
    final class Signal: Sendable {
        struct State {
            var fired = false
            var continuation: CheckedContinuation<Void, Never>?
            /// The poll waits: a transaction may reserve it.
            var accepting = false
            var reserved = false
            /// The poll's wait has ended while reserved: resumed when the reservation is settled.
            var settling: CheckedContinuation<Void, Never>?
            var handed: [ZedgeCore.AgentTask] = []
            /// Woken by `notify` (or a reservation given back): the poll looks in the database.
            var notified = false
            /// Fired by its wait's timeout (or the waiting task's cancellation) before anything else fired it.
            var expired = false
        }
        /// The agent run of the poll, when it takes tasks handed over (`subscribe(_:handingTo:)`); nil otherwise.
        let handoff: Handoff?
        struct Handoff { let run: UUID? }
        private let state = Mutex(State())

        init(handoff: Handoff?) {
            self.handoff = handoff
        }

        /// A wake (`notify`, `close`): the poll looks in the database.
        func fire() {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.fired = true
                state.notified = true
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume()
        }

        /// The wait's timeout: fires the signal unless something fired it first, and then says the wait expired.
        func expire() {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.fired else { return nil }
                state.fired = true
                state.expired = true
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume()
        }

        /// Whether the wait ended by its timeout (`expire`), not by a wake.
        var expired: Bool { state.withLock { $0.expired } }

        func wait() async {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { state -> Bool in
                    if !state.fired { state.continuation = continuation }
                    return state.fired
                }
                if fired { continuation.resume() }
            }
        }

        /// Starts accepting reservations, if this poll takes handed tasks at all.
        func startAccepting() {
            guard handoff != nil else { return }
            state.withLock { $0.accepting = true }
        }

        /// Reserves a waiting, unfired, unreserved poll; false otherwise.
        func reserve() -> Bool {
            state.withLock { state in
                guard state.accepting, !state.reserved, !state.fired else { return false }
                state.reserved = true
                return true
            }
        }

        /// Ends a reservation: with the tasks leased to the poll, or with none (the poll then looks in the database).
        func settle(handing tasks: [ZedgeCore.AgentTask]) {
            let (waiting, settling) = state.withLock { state in
                state.reserved = false
                state.fired = true
                if tasks.isEmpty { state.notified = true } else { state.handed += tasks }
                defer { state.continuation = nil; state.settling = nil }
                return (state.continuation, state.settling)
            }
            waiting?.resume()
            settling?.resume()
        }

        /// Stops accepting reservations; waits for one in progress to be settled.
        func stopAccepting() async {
            await withCheckedContinuation { continuation in
                let reserved = state.withLock { state -> Bool in
                    state.accepting = false
                    if state.reserved { state.settling = continuation }
                    return state.reserved
                }
                if !reserved { continuation.resume() }
            }
        }

        var accepting: Bool { state.withLock { $0.accepting } }

        var outcome: (handed: [ZedgeCore.AgentTask], notified: Bool) {
            state.withLock { ($0.handed, $0.notified) }
        }
    }

    /// A waiting long-poll reserved by a transaction (`TaskNotifier.reserve`): settle it exactly once.
    public struct Reservation: Sendable {
        let signal: Signal
        /// The agent run the poll came from: the holder of the tasks leased to it.
        public var run: UUID? { signal.handoff?.run }

        /// After commit: the poll answers with `tasks` (leased to `run`) without reading them back. With none, the
        /// poll looks in the database as if notified (after a rollback, or when nothing was leased to it).
        public func settle(handing tasks: [ZedgeCore.AgentTask]) {
            signal.settle(handing: tasks)
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
        /// `timeout`, whichever comes first: true when notified. The waiting task's cancellation ends it as the
        /// timeout does.
        ///
        /// One continuation and a dispatch timer, no child tasks: a held long-poll keeps only this (issue #14 item 4;
        /// two child tasks, a sleep and the wait, cost ~3 KiB per held poll).
        @discardableResult
        public func wait(timeout: Duration) async -> Bool {
            let signal = self.signal
            signal.startAccepting()
            let timer = DispatchWorkItem { signal.expire() }
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0, timeout.seconds), execute: timer)
            await withTaskCancellationHandler {
                await signal.wait()
            } onCancel: {
                signal.expire()
            }
            timer.cancel()
            // A transaction that reserved this poll is about to commit or roll back: its tasks are this poll's.
            await signal.stopAccepting()
            return !signal.expired || !signal.outcome.handed.isEmpty
        }

        /// Ends the wait now, as its timeout would (the poll's client has gone): no transaction reserves it any
        /// more; one that already has still hands it its tasks (`handed`), for the caller to put back.
        public func expire() {
            signal.expire()
        }

        /// The tasks a committed transaction handed this poll, leased to its run (`TaskNotifier.reserve`).
        public var handed: [ZedgeCore.AgentTask] { signal.outcome.handed }

        /// Whether the poll waits now and may be reserved (tests wait for it).
        var isWaiting: Bool { signal.accepting }

        /// Whether the host was notified (or a reservation given back): there may be work to read from the database.
        public var notified: Bool { signal.outcome.notified }

        /// Ends the registration (always call it, e.g. in a `defer`).
        public func cancel() {
            notifier.waiters.withLock { waiters in
                waiters[host]?.removeValue(forKey: ObjectIdentifier(signal))
                if waiters[host]?.isEmpty == true { waiters.removeValue(forKey: host) }
            }
        }
    }

    /// Reserves a long-poll of `host` that is waiting, for a transaction about to queue tasks for it; nil when none
    /// waits (or each is reserved or woken already). The caller leases the tasks to the reservation's run in its
    /// transaction and settles the reservation once it has committed or rolled back; until then the poll waits on,
    /// past its timeout. A poll of another replica is never reserved: it is woken as before.
    public func reserve(_ host: UUID) -> Reservation? {
        guard !closed.load(ordering: .sequentiallyConsistent) else { return nil }
        return waiters.withLock { waiters in
            waiters[host]?.values.first { $0.reserve() }.map(Reservation.init)
        }
    }

    /// Registers for the next `notify(host)`; once closed, the subscription is already notified.
    public func subscribe(_ host: UUID) -> Subscription {
        subscribe(host, handoff: nil)
    }

    /// As `subscribe(_:)`, for a long-poll that also takes the tasks a transaction hands it while it waits
    /// (`reserve`; `Subscription.handed`), leased to `run`, the agent run it comes from.
    public func subscribe(_ host: UUID, handingTo run: UUID?) -> Subscription {
        subscribe(host, handoff: Signal.Handoff(run: run))
    }

    private func subscribe(_ host: UUID, handoff: Signal.Handoff?) -> Subscription {
        let signal = Signal(handoff: handoff)
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
