import Foundation
import Synchronization
import ZedgeCore

/// Live agent credentials by secret hash, so that an agent's heartbeats and long-polls need no database
/// read to authenticate. Sound only where this process makes every change to `agent_credentials` (SQLite:
/// one coordinator per file), and only if each change goes through `SQLAgentCredentialRepository`, which
/// invalidates here after writing, so that a revoked credential gets a 401 on its very next call.
///
/// A lookup that misses reads the database and may then store what it read, unless an invalidation came in
/// between (the generation moved): a read that raced with a revocation never caches the revoked credential.
final class AgentCredentialCache: Sendable {
    private struct State {
        var live: [String: AgentCredential] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Beyond this many entries the cache starts over (memory stays bounded whatever agents do).
    let capacity: Int

    init(capacity: Int = 200_000) {
        self.capacity = max(1, capacity)
    }

    /// The cached live credential, and the generation to hand back to `store` after a miss.
    func lookup(_ secretHash: String) -> (credential: AgentCredential?, generation: UInt64) {
        state.withLock { ($0.live[secretHash], $0.generation) }
    }

    /// Keeps a credential read from the database, if it is live and nothing was invalidated since `generation`.
    func store(_ credential: AgentCredential, secretHash: String, readAt generation: UInt64) {
        guard credential.revokedAt == nil else { return }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.live.count >= capacity { state.live.removeAll(keepingCapacity: true) }
            state.live[secretHash] = credential
        }
    }

    /// Forgets the credentials of a machine or CloudBox (after their revocation was written).
    func invalidate(computeMachineId: UUID?, cloudBoxId: UUID?) {
        state.withLock { state in
            state.generation &+= 1
            state.live = state.live.filter { _, credential in
                !((computeMachineId != nil && credential.computeMachineId == computeMachineId)
                    || (cloudBoxId != nil && credential.cloudBoxId == cloudBoxId))
            }
        }
    }

    /// Forgets everything (after a change the cache cannot attribute).
    func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.live.removeAll()
        }
    }

    var count: Int { state.withLock { $0.live.count } }
}
