import Hummingbird
import Synchronization

/// Where a long-poll (`GET /agent/v1/tasks`) waits: outside its request's middleware and handler frames (issue #14
/// item 4).
///
/// Why: a connection's Swift task keeps every task-allocator slab it ever used until it ends (the runtime's
/// `StackAllocator` reuses them and frees none before). A poll that waited inside the handler kept the slabs of
/// authentication, audit, metrics, the router and its lookups, ~30 KiB per held poll. `LongPollParkingResponder`
/// runs each pass through the middleware in a child task, which frees its slabs when it ends; the handler hands
/// its wait here (`hold`) and answers with a placeholder; the connection's own task waits, then the request
/// goes through the middleware again, and the handler carries on with the same subscription (`resumption`).
///
/// Phases: looking (the first pass) → holding (a wait handed over) → waiting → resumed (the second pass took its
/// subscription). Without a park (a router used directly, as in tests) a handler waits inline as before.
public final class LongPollPark: Sendable {
    enum Phase {
        case looking
        case holding(TaskNotifier.Subscription, wait: @Sendable () async -> Void)
        case waiting(TaskNotifier.Subscription)
        case resumed
    }

    private let phase = Mutex(Phase.looking)
    private let gone = Atomic<Bool>(false)
    /// When the request arrived: the answer's latency is measured from here, not from the second pass.
    let arrivedAt = ContinuousClock.now

    init() {}

    /// The answer the first pass returns when it holds: never sent (the second pass answers).
    static var placeholder: Response { Response(status: .noContent) }

    /// The handler has nothing to answer yet: it hands over `subscription` and how to wait for it, and returns
    /// `placeholder`. The subscription stays registered until the second pass (or `end`) cancels it.
    func hold(_ subscription: TaskNotifier.Subscription, wait: @escaping @Sendable () async -> Void) {
        phase.withLock { $0 = .holding(subscription, wait: wait) }
    }

    /// Whether the first pass handed its wait over (its placeholder answer is then not a real one).
    var isHolding: Bool {
        phase.withLock { if case .holding = $0 { true } else { false } }
    }

    /// The wait handed over, once: nil when the first pass answered by itself.
    func takeWait() -> (@Sendable () async -> Void)? {
        phase.withLock { phase in
            guard case .holding(let subscription, let wait) = phase else { return nil }
            phase = .waiting(subscription)
            return wait
        }
    }

    /// On the second pass: the subscription waited for, once; the handler cancels it when it has answered.
    var resumption: TaskNotifier.Subscription? {
        phase.withLock { phase in
            guard case .waiting(let subscription) = phase else { return nil }
            phase = .resumed
            return subscription
        }
    }

    /// The client closed its side of the connection while the poll waited: the wait ends now, and the second pass
    /// answers nothing (what was handed to the poll goes back to the queue, `AgentController.tasks`).
    func clientLeft() {
        gone.store(true, ordering: .sequentiallyConsistent)
        let waiting: TaskNotifier.Subscription? = phase.withLock { phase in
            if case .waiting(let subscription) = phase { subscription } else { nil }
        }
        waiting?.expire()
    }

    /// Whether the client left while the poll waited (`clientLeft`).
    var clientHasLeft: Bool { gone.load(ordering: .sequentiallyConsistent) }

    /// Cancels a subscription that no second pass took (its request ended during the wait).
    func end() {
        let left: TaskNotifier.Subscription? = phase.withLock { phase in
            defer { phase = .resumed }
            switch phase {
            case .holding(let subscription, _), .waiting(let subscription): return subscription
            case .looking, .resumed: return nil
            }
        }
        left?.cancel()
    }
}
