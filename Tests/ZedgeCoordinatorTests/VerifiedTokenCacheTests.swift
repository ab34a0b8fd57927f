import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Access tokens verified once are taken from `VerifiedTokenCache` until they expire; nothing else is.
@Suite struct VerifiedTokenCacheTests {
    static func signer() async throws -> TokenSigner {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await TokenSigner.loadOrCreate(dataDirectory: directory, lifetime: .seconds(900))
    }

    @Test
    func aVerifiedTokenIsKeptAndATamperedOneRefused() async throws {
        let signer = try await Self.signer()
        let userId = UUID()
        let token = try await signer.sign(userId: userId, role: .admin, tenantId: nil)
        let first = try #require(await signer.verify(token))
        #expect(first.sub.value == userId.uuidString)
        #expect(signer.verified.count == 1)
        let again = try #require(await signer.verify(token))
        #expect(again.jti.value == first.jti.value)
        #expect(signer.verified.count == 1, "the same token is one entry")

        // Another signature over the same claims (one character changed), and another key's token: refused, not kept.
        var tampered = Array(token)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == "A" ? "B" : "A"
        #expect(await signer.verify(String(tampered)) == nil)
        let stranger = try await Self.signer().sign(userId: userId, role: .admin, tenantId: nil)
        #expect(await signer.verify(stranger) == nil, "signed by another coordinator's key")
        #expect(signer.verified.count == 1)
    }

    @Test
    func anExpiredTokenIsRefusedWhetherKeptOrNot() async throws {
        let signer = try await Self.signer()
        let token = try await signer.sign(userId: UUID(), role: .operator, tenantId: nil)
        #expect(await signer.verify(token) != nil)
        let later = Date().addingTimeInterval(901)
        #expect(await signer.verify(token, now: later) == nil, "kept, but expired by then")
        #expect(signer.verified.count == 0, "an expired entry goes")
        let fresh = try await Self.signer()
        let other = try await fresh.sign(userId: UUID(), role: .operator, tenantId: nil)
        #expect(await fresh.verify(other, now: later) == nil, "not kept: the signature verifies, the expiry does not")
        #expect(fresh.verified.count == 0)
    }

    @Test
    func theCacheStaysWithinItsCapacity() async throws {
        let signer = try await Self.signer()
        let cache = VerifiedTokenCache(capacity: 3)
        let now = Date()
        var tokens: [(String, AccessTokenClaims)] = []
        for _ in 0..<5 {
            let token = try await signer.sign(userId: UUID(), role: .user, tenantId: nil, now: now.addingTimeInterval(-850))
            tokens.append((token, try #require(await signer.verify(token, now: now))))
        }
        // Three entries that expire 50 s from now, then a fourth an hour later: the expired ones go first.
        for (token, claims) in tokens.prefix(3) { cache.store(claims, of: token, now: now) }
        #expect(cache.count == 3)
        let hourLater = now.addingTimeInterval(3600)
        cache.store(tokens[3].1, of: tokens[3].0, now: hourLater)
        #expect(cache.count == 1, "the expired entries were dropped")
        #expect(cache.claims(of: tokens[0].0, now: now) == nil)
        // Full of live entries: it starts over rather than grow.
        let full = VerifiedTokenCache(capacity: 3)
        for (token, claims) in tokens.prefix(3) { full.store(claims, of: token, now: now) }
        #expect(full.count == 3)
        full.store(tokens[4].1, of: tokens[4].0, now: now)
        #expect(full.count == 1)
        #expect(full.claims(of: tokens[4].0, now: now)?.sub.value == tokens[4].1.sub.value)
        #expect(full.claims(of: tokens[0].0, now: now) == nil)
    }
}
