import Foundation
import HummingbirdBcrypt
import NIOPosix

/// Hashes and verifies passwords with bcrypt on NIO's blocking thread pool, never on an event loop.
public struct PasswordHasher: Sendable {
    /// bcrypt cost; DESIGN §7 requires 12 or more.
    public let cost: UInt8
    private let threadPool: NIOThreadPool
    /// A real bcrypt hash at the same cost, for `verifyAgainstDummy`.
    private let dummyHash: String

    public init(cost: UInt8 = 12, threadPool: NIOThreadPool = .singleton) {
        precondition(cost >= 12, "bcrypt cost must be 12 or more")
        self.cost = cost
        self.threadPool = threadPool
        self.dummyHash = Bcrypt.hash(UUID().uuidString, cost: cost)
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
        _ = try await verify(password, hash: dummyHash)
    }
}
