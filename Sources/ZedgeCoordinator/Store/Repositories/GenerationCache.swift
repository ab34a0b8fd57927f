import Synchronization

/// Rows read from the database, kept in memory until a write through this process changes them: the cache behind
/// `AgentCredentialCache` (credentials by secret hash) and `SQLUserRepository` (users by id). Sound only where this
/// process makes every change to the table (SQLite: one coordinator per file), and only if each change invalidates
/// here once it has committed.
///
/// A lookup that misses reads the database and may then store what it read, unless an invalidation came in between
/// (the generation moved): a read that raced with a change never caches the row as it was before it.
final class GenerationCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var values: [Key: Value] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Beyond this many entries the cache starts over (memory stays bounded whatever clients do).
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The cached value, and the generation to hand back to `store` after a miss.
    func lookup(_ key: Key) -> (value: Value?, generation: UInt64) {
        state.withLock { ($0.values[key], $0.generation) }
    }

    /// Keeps a value read from the database, if nothing was invalidated since `generation`.
    func store(_ value: Value, for key: Key, readAt generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.values.count >= capacity { state.values.removeAll(keepingCapacity: true) }
            state.values[key] = value
        }
    }

    /// Forgets `key` (after a change to its row was written).
    func invalidate(_ key: Key) {
        state.withLock { state in
            state.generation &+= 1
            state.values[key] = nil
        }
    }

    /// Forgets every value `matches` (after a change to their rows was written).
    func invalidate(where matches: (Value) -> Bool) {
        state.withLock { state in
            state.generation &+= 1
            state.values = state.values.filter { !matches($0.value) }
        }
    }

    /// Forgets everything (after a change the cache cannot attribute).
    func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.values.removeAll()
        }
    }

    var count: Int { state.withLock { $0.values.count } }
}
