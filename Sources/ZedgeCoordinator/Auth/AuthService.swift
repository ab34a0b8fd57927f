import Foundation
import Logging
import ZedgeCore

/// The tokens a login or refresh hands out.
public struct TokenPair: Codable, Sendable {
    public var accessToken: String
    public var refreshToken: String
    public var tokenType: String
    /// Seconds until the access token expires.
    public var expiresIn: Int
}

/// Login, refresh-token rotation with reuse detection, and logout.
public struct AuthService: Sendable {
    let users: any UserRepository
    let refreshTokens: any RefreshTokenRepository
    let transactions: Transactions
    let hasher: PasswordHasher
    let signer: TokenSigner
    let limiter: LoginRateLimiter
    let refreshLifetime: Duration

    public init(
        users: any UserRepository, refreshTokens: any RefreshTokenRepository, transactions: Transactions,
        hasher: PasswordHasher, signer: TokenSigner, limiter: LoginRateLimiter, refreshLifetime: Duration
    ) {
        self.users = users
        self.refreshTokens = refreshTokens
        self.transactions = transactions
        self.hasher = hasher
        self.signer = signer
        self.limiter = limiter
        self.refreshLifetime = refreshLifetime
    }

    /// Checks the password; 429 once the username or address has failed too often, 401 for a wrong
    /// username or password (indistinguishable, in answer and in time), 401 for a locked or inactive account.
    public func login(username: String, password: String, address: String?, audit: RequestAudit) async throws -> TokenPair {
        let username = username.lowercased()
        audit.detail("username", .string(String(username.prefix(64))))
        if let wait = limiter.retryAfter(username: username, address: address) {
            throw DomainError.tooManyRequests(retryAfter: wait)
        }
        guard let (user, hash) = try await users.credentials(username: username) else {
            try await hasher.verifyAgainstDummy(password)
            limiter.recordFailure(username: username, address: address)
            throw DomainError.unauthorized("Invalid username or password.")
        }
        audit.actor(user.id, tenantId: user.tenantId)
        guard try await hasher.verify(password, hash: hash) else {
            limiter.recordFailure(username: username, address: address)
            throw DomainError.unauthorized("Invalid username or password.")
        }
        guard user.status == .active else {
            throw DomainError.unauthorized("This account is \(user.status.rawValue.lowercased()).")
        }
        limiter.recordSuccess(username: username)
        try await users.recordLogin(user.id, at: Date())
        let secret = SecretToken.generate(.refreshToken)
        // A new family, issued under the user's row lock: a soft delete that committed first is seen here
        // (401), one that runs after revokes this token too.
        let issued: User? = try await transactions.run { tx in
            guard let current = try await users.lock(user.id, in: tx), current.status == .active else { return nil }
            try await refreshTokens.insert(successor(of: current.id, family: .v7()), tokenHash: secret.hash, in: tx)
            return current
        }
        guard let issued else { throw DomainError.unauthorized("This account cannot sign in.") }
        return try await pair(for: issued, refreshToken: secret.value)
    }

    /// What one rotation found, decided inside its transaction and answered after it commits (a revocation
    /// must commit, so it is not thrown from inside).
    enum Rotation: Sendable {
        case rotated(User)
        case reuseDetected
        case accountCannotSignIn
        case refused
    }

    /// Rotates a refresh token (RFC 9700 §4.14.2): the presented one is spent and a successor of the same
    /// family returned. A spent token presented again revokes its whole family (it was stolen, or the client
    /// is confused); so does a refresh for a user who may no longer sign in.
    ///
    /// Rotation and revocation are atomic with each other: each runs in one transaction that first holds the
    /// user's row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises every write
    /// transaction), reads the token after that lock (READ COMMITTED: the state the last holder committed),
    /// checks the family's revocation, and only then marks the token used and inserts its successor. Logout
    /// and the user's soft delete revoke under the same lock. So for two requests on one family:
    /// - rotation, then reuse: the reuse sees the token used and revokes the family with a statement that
    ///   starts after the rotation committed, so the successor is revoked too (never outlives the family);
    /// - reuse (or logout, or delete) first, then rotation: the rotation sees its token revoked (or the family
    ///   revoked, or the user INACTIVE) and issues nothing;
    /// - two rotations of one token: the second sees it used, which is a reuse: exactly one 200, and the
    ///   family (with the first one's successor) is revoked.
    /// Hence N parallel refreshes of one token give exactly one 200 and N-1 401s, and afterwards no token of
    /// the family refreshes. Access tokens are not part of this: they are signed JWTs checked without the
    /// database (except that their user is ACTIVE), so one issued to a family later revoked stays valid until
    /// it expires (`accessTokenTtlSeconds`, 15 minutes), as DESIGN §7 and RFC 9700 §4.14 accept.
    public func refresh(_ presented: String, audit: RequestAudit) async throws -> TokenPair {
        let now = Date()
        let hash = SecretToken.hash(presented)
        guard let known = try await refreshTokens.find(tokenHash: hash, in: nil) else {
            throw DomainError.unauthorized("Invalid, expired or revoked refresh token.")
        }
        audit.actor(known.userId, tenantId: nil)
        let secret = SecretToken.generate(.refreshToken)
        let rotation: Rotation = try await transactions.run { tx in
            guard let user = try await users.lock(known.userId, in: tx),
                  let token = try await refreshTokens.find(tokenHash: hash, in: tx) else { return .refused }
            if token.revokedAt != nil { return .refused }
            if try await refreshTokens.isFamilyRevoked(token.familyId, in: tx) {
                try await refreshTokens.revokeFamily(token.familyId, at: now, in: tx)
                return .refused
            }
            if token.usedAt != nil {
                try await refreshTokens.revokeFamily(token.familyId, at: now, in: tx)
                return .reuseDetected
            }
            if token.expiresAt <= now { return .refused }
            guard user.status == .active else {
                try await refreshTokens.revokeFamily(token.familyId, at: now, in: tx)
                return .accountCannotSignIn
            }
            guard try await refreshTokens.markUsed(token.id, at: now, in: tx) else { return .refused }
            try await refreshTokens.insert(successor(of: user.id, family: token.familyId), tokenHash: secret.hash, in: tx)
            return .rotated(user)
        }
        switch rotation {
        case .rotated(let user):
            audit.actor(user.id, tenantId: user.tenantId)
            return try await pair(for: user, refreshToken: secret.value)
        case .reuseDetected:
            audit.detail("reuseDetected", true)
            throw DomainError.unauthorized("Refresh token reuse detected; every session of this login has been revoked.")
        case .accountCannotSignIn:
            throw DomainError.unauthorized("This account cannot sign in.")
        case .refused:
            throw DomainError.unauthorized("Invalid, expired or revoked refresh token.")
        }
    }

    /// Revokes the refresh token's family, under the user's row lock (see `refresh`). Unknown tokens are
    /// ignored (nothing to reveal).
    public func logout(_ presented: String, audit: RequestAudit) async throws {
        guard let token = try await refreshTokens.find(tokenHash: SecretToken.hash(presented), in: nil) else { return }
        audit.actor(token.userId, tenantId: nil)
        try await transactions.run { tx in
            _ = try await users.lock(token.userId, in: tx)
            try await refreshTokens.revokeFamily(token.familyId, at: Date(), in: tx)
        }
    }

    /// A new refresh token of `family` (its secret's hash is stored beside it).
    func successor(of userId: UUID, family: UUID) -> RefreshToken {
        RefreshToken(
            userId: userId, familyId: family,
            expiresAt: Date().addingTimeInterval(TimeInterval(refreshLifetime.components.seconds)))
    }

    /// The answer: a fresh access token beside the refresh token just stored.
    func pair(for user: User, refreshToken: String) async throws -> TokenPair {
        TokenPair(
            accessToken: try await signer.sign(userId: user.id, role: user.role, tenantId: user.tenantId, now: Date()),
            refreshToken: refreshToken, tokenType: "Bearer",
            expiresIn: Int(signer.lifetime.components.seconds))
    }
}
