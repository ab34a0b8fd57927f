import Foundation
import HummingbirdBcrypt
import Testing
@testable import ZedgeCoordinator

/// Passwords are pre-hashed (SHA-256, base64) before bcrypt, so every character counts, however long the password
/// (bcrypt alone reads 72 bytes), and hashes made before the pre-hash still verify.
@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher(cost: 12)

    @Test func everyCharacterOfALongPasswordCounts() async throws {
        let long = String(repeating: "é", count: 100)  // 200 bytes: bcrypt alone would read the first 72
        let hash = try await hasher.hash(long)
        #expect(hash.hasPrefix(PasswordHasher.prehashedPrefix))
        #expect(try await hasher.verify(long, hash: hash))
        #expect(try await !hasher.verify(String(repeating: "é", count: 99) + "e", hash: hash))
        #expect(try await !hasher.verify(String(repeating: "é", count: 36), hash: hash))
    }

    @Test func aHashFromBeforeThePrehashStillVerifies() async throws {
        let legacy = Bcrypt.hash("old-password-1", cost: 12)
        #expect(try await hasher.verify("old-password-1", hash: legacy))
        #expect(try await !hasher.verify("old-password-2", hash: legacy))
    }
}
