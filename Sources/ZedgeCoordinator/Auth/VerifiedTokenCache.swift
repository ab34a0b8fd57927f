import Crypto
import Foundation
import Synchronization

/// Access tokens this process has verified, by the SHA-256 of the token (the token itself is never kept), with
/// their claims until they expire. Verifying an ES256 signature costs about 0.2 ms of CPU, a lookup about 1 µs,
/// and a client sends the same token on every request for its lifetime (15 minutes by default).
///
/// Sound because nothing about a verified token can change before its `exp`: its signature and claims are fixed,
/// the signing key lives as long as the process, and access tokens are not revoked one by one (a user's status
/// and role are read afresh on every request by `Authenticator`, so a LOCKED user is still refused at once).
final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[SHA256Digest: AccessTokenClaims]>([:])
    /// Beyond this many entries, the expired ones go; if none has, the cache starts over (memory stays bounded
    /// whatever clients send: only tokens that verified are ever stored).
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
    }

    /// The claims of `token` if it was verified before and has not expired at `now`.
    func claims(of token: String, now: Date) -> AccessTokenClaims? {
        let key = SHA256.hash(data: Data(token.utf8))
        return entries.withLock { entries in
            guard let claims = entries[key] else { return nil }
            guard claims.exp.value > now else {
                entries[key] = nil
                return nil
            }
            return claims
        }
    }

    /// Keeps the claims of a token that was just verified.
    func store(_ claims: AccessTokenClaims, of token: String, now: Date) {
        let key = SHA256.hash(data: Data(token.utf8))
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.exp.value > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = claims
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
