import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct AgentCredentialCacheTests {
    let machine = UUID(), other = UUID()

    @Test func keepsLiveCredentialsUntilTheirHostIsInvalidated() {
        let cache = AgentCredentialCache()
        let live = AgentCredential(computeMachineId: machine, prefix: "a")
        let (missed, generation) = cache.lookup("hash-a")
        #expect(missed == nil)
        cache.store(live, secretHash: "hash-a", readAt: generation)
        cache.store(AgentCredential(computeMachineId: other, prefix: "b"), secretHash: "hash-b", readAt: generation)
        #expect(cache.lookup("hash-a").credential == live)
        cache.invalidate(computeMachineId: machine, cloudBoxId: nil)
        #expect(cache.lookup("hash-a").credential == nil)
        #expect(cache.lookup("hash-b").credential != nil)
        // Revoked credentials are never kept.
        let (_, now) = cache.lookup("hash-c")
        cache.store(AgentCredential(computeMachineId: machine, prefix: "c", revokedAt: Date()), secretHash: "hash-c", readAt: now)
        #expect(cache.lookup("hash-c").credential == nil)
    }

    /// A read that started before a revocation and ends after its invalidation must not cache what it read.
    @Test func aReadThatRacedWithARevocationIsNotKept() {
        let cache = AgentCredentialCache()
        let (_, before) = cache.lookup("hash-a")
        cache.invalidate(computeMachineId: machine, cloudBoxId: nil)  // the revocation lands meanwhile
        cache.store(AgentCredential(computeMachineId: machine, prefix: "a"), secretHash: "hash-a", readAt: before)
        #expect(cache.lookup("hash-a").credential == nil)
        cache.invalidateAll()
        #expect(cache.count == 0)
    }

    @Test func staysWithinItsCapacity() {
        let cache = AgentCredentialCache(capacity: 3)
        for index in 0..<10 {
            let (_, generation) = cache.lookup("hash-\(index)")
            cache.store(AgentCredential(computeMachineId: UUID(), prefix: "p"), secretHash: "hash-\(index)", readAt: generation)
        }
        #expect(cache.count <= 3)
    }
}
