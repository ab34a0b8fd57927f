import Foundation
import HummingbirdBcrypt
import NIOCore
import NIOPosix
import Synchronization

/// Hashes and verifies passwords with bcrypt on a thread pool of its own: never on an event loop, and never
/// in the shared blocking pool where SQLite's I/O runs, so a burst of logins cannot stall the database.
public struct PasswordHasher: Sendable {
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
        return try await threadPool.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await threadPool.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// Spends the time of one verification, so that an unknown username answers as slowly as a wrong
    /// password and cannot be told apart by timing.
    public func verifyAgainstDummy(_ password: String) async throws {
        let cost = self.cost, dummy = self.dummyHash
        _ = try await threadPool.runIfActive { Bcrypt.verify(password, hash: dummy.get(cost: cost)) }
    }
}
