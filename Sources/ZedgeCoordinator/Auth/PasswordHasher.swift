import Crypto
import Foundation
import HummingbirdBcrypt
import NIOCore
import NIOPosix
import Synchronization

/// Hashes and verifies passwords with bcrypt on a thread pool of its own: never on an event loop, and never
/// in the shared blocking pool where SQLite's I/O runs, so a burst of logins cannot stall the database.
///
/// bcrypt reads at most 72 bytes and stops at a NUL, so a password is first reduced to the base64 of its SHA-256
/// (44 ASCII bytes), and every character of it counts. Such hashes are stored as `sha256-bcrypt:` + the bcrypt
/// string; a hash without that prefix (made before the pre-hash) is verified as plain bcrypt of the password.
public struct PasswordHasher: Sendable {
    /// The prefix of a stored hash whose bcrypt input is `prehash(password)`.
    static let prehashedPrefix = "sha256-bcrypt:"

    /// The bcrypt input for `password`: base64(SHA-256(UTF-8 of password)).
    static func prehash(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }

    /// The process's bcrypt threads (bcrypt at cost 12 is ~0.25 s of CPU per call).
    public static let sharedThreadPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount / 2))
        pool.start()
        return pool
    }()

    /// bcrypt cost; DESIGN §7 requires 12 or more.
    public let cost: UInt8
    private let threadPool: NIOThreadPool
    /// A real bcrypt hash at the same cost, for `verifyAgainstDummy`; made on first use, on the bcrypt
    /// threads (making it in `init` would hold a cooperative thread for a whole bcrypt run).
    private let dummyHash = DummyHash()

    final class DummyHash: Sendable {
        private let hash = Mutex<String?>(nil)
        func get(cost: UInt8) -> String {
            if let made = hash.withLock({ $0 }) { return made }
            let made = Bcrypt.hash(UUID().uuidString, cost: cost)
            return hash.withLock { current in
                if let current { return current }
                current = made
                return made
            }
        }
    }

    public init(cost: UInt8 = 12, threadPool: NIOThreadPool = PasswordHasher.sharedThreadPool) {
        precondition(cost >= 12, "bcrypt cost must be 12 or more")
        self.cost = cost
        self.threadPool = threadPool
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await threadPool.runIfActive { Self.prehashedPrefix + Bcrypt.hash(Self.prehash(password), cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await threadPool.runIfActive {
            if hash.hasPrefix(Self.prehashedPrefix) {
                return Bcrypt.verify(Self.prehash(password), hash: String(hash.dropFirst(Self.prehashedPrefix.count)))
            }
            return Bcrypt.verify(password, hash: hash)
        }
    }

    /// Spends the time of one verification, so that an unknown username answers as slowly as a wrong
    /// password and cannot be told apart by timing.
    public func verifyAgainstDummy(_ password: String) async throws {
        let cost = self.cost, dummy = self.dummyHash
        _ = try await threadPool.runIfActive { Bcrypt.verify(Self.prehash(password), hash: dummy.get(cost: cost)) }
    }
}
