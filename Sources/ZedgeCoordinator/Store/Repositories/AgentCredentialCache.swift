import Foundation
import ZedgeCore

/// Live agent credentials by secret hash, so that an agent's heartbeats and long-polls need no database read to
/// authenticate (a `GenerationCache`). Every change to `agent_credentials` goes through
/// `SQLAgentCredentialRepository`, which invalidates here after writing, so that a revoked credential gets a 401 on
/// its very next call. A revoked credential is never kept.
final class AgentCredentialCache: Sendable {
    private let cache: GenerationCache<String, AgentCredential>

    init(capacity: Int = 200_000) {
        cache = GenerationCache(capacity: capacity)
    }

    var capacity: Int { cache.capacity }

    /// The cached live credential, and the generation to hand back to `store` after a miss.
    func lookup(_ secretHash: String) -> (credential: AgentCredential?, generation: UInt64) {
        let (credential, generation) = cache.lookup(secretHash)
        return (credential, generation)
    }

    /// Keeps a credential read from the database, if it is live and nothing was invalidated since `generation`.
    func store(_ credential: AgentCredential, secretHash: String, readAt generation: UInt64) {
        guard credential.revokedAt == nil else { return }
        cache.store(credential, for: secretHash, readAt: generation)
    }

    /// Forgets the credentials of a machine or CloudBox (after their revocation was written).
    func invalidate(computeMachineId: UUID?, cloudBoxId: UUID?) {
        cache.invalidate { credential in
            (computeMachineId != nil && credential.computeMachineId == computeMachineId)
                || (cloudBoxId != nil && credential.cloudBoxId == cloudBoxId)
        }
    }

    /// Forgets everything (after a change the cache cannot attribute).
    func invalidateAll() { cache.invalidateAll() }

    var count: Int { cache.count }
}
