import Foundation
import Synchronization
import ZedgeCore

/// Users by id, as last read, so that authenticating an API call (`Authenticator.principal`, every request under
/// `/api`) needs no database read: on a quiet coordinator that read and its two thread hops were ~240 µs of the
/// ~2.7 ms from a task's enqueue request to the agent's long-poll answer (issue #14 item 3, uprobes on a release build).
///
/// Sound only where this process makes every change to `users` (SQLite: one coordinator per file), and only if each
/// change goes through `SQLUserRepository`, which invalidates the user here once the change has committed, so that a
/// role change, a lock or a deletion applies to the user's very next call.
///
/// A lookup that misses reads the database and may then store what it read, unless an invalidation came in between
/// (the generation moved): a read that raced with a change never caches the row as it was before it.
final class UserCache: Sendable {
    private struct State {
        var users: [UUID: User] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Beyond this many entries the cache starts over (memory stays bounded however many users sign in).
    let capacity: Int

    init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    /// The cached user, and the generation to hand back to `store` after a miss.
    func lookup(_ id: UUID) -> (user: User?, generation: UInt64) {
        state.withLock { ($0.users[id], $0.generation) }
    }

    /// Keeps a user read from the database, if nothing was invalidated since `generation`.
    func store(_ user: User, readAt generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.users.count >= capacity { state.users.removeAll(keepingCapacity: true) }
            state.users[user.id] = user
        }
    }

    /// Forgets a user (after a change to its row was written).
    func invalidate(_ id: UUID) {
        state.withLock { state in
            state.generation &+= 1
            state.users[id] = nil
        }
    }

    var count: Int { state.withLock { $0.users.count } }
}
