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
    let hasher: PasswordHasher
    let signer: TokenSigner
    let limiter: LoginRateLimiter
    let refreshLifetime: Duration

    public init(
        users: any UserRepository, refreshTokens: any RefreshTokenRepository, hasher: PasswordHasher,
        signer: TokenSigner, limiter: LoginRateLimiter, refreshLifetime: Duration
    ) {
        self.users = users
        self.refreshTokens = refreshTokens
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
        return try await issue(for: user, familyId: .v7())
    }

    /// Rotates a refresh token: the presented one is spent and a new one of the same family returned. A
    /// spent token presented again revokes its whole family (it was stolen, or the client is confused).
    public func refresh(_ presented: String, audit: RequestAudit) async throws -> TokenPair {
        let now = Date()
        let hash = SecretToken.hash(presented)
        if let token = try await refreshTokens.consume(tokenHash: hash, now: now) {
            guard let user = try await users.find(token.userId), user.status == .active else {
                try await refreshTokens.revokeFamily(token.familyId, at: now)
                throw DomainError.unauthorized("This account cannot sign in.")
            }
            audit.actor(user.id, tenantId: user.tenantId)
            return try await issue(for: user, familyId: token.familyId)
        }
        if let token = try await refreshTokens.find(tokenHash: hash) {
            audit.actor(token.userId, tenantId: nil)
            if token.usedAt != nil && token.revokedAt == nil {
                try await refreshTokens.revokeFamily(token.familyId, at: now)
                audit.detail("reuseDetected", true)
                throw DomainError.unauthorized("Refresh token reuse detected; every session of this login has been revoked.")
            }
        }
        throw DomainError.unauthorized("Invalid, expired or revoked refresh token.")
    }

    /// Revokes the refresh token's family. Unknown tokens are ignored (nothing to reveal).
    public func logout(_ presented: String, audit: RequestAudit) async throws {
        if let token = try await refreshTokens.find(tokenHash: SecretToken.hash(presented)) {
            audit.actor(token.userId, tenantId: nil)
            try await refreshTokens.revokeFamily(token.familyId, at: Date())
        }
    }

    func issue(for user: User, familyId: UUID) async throws -> TokenPair {
        let now = Date()
        let secret = SecretToken.generate(.refreshToken)
        let token = RefreshToken(
            userId: user.id, familyId: familyId,
            expiresAt: now.addingTimeInterval(TimeInterval(refreshLifetime.components.seconds)))
        try await refreshTokens.insert(token, tokenHash: secret.hash)
        return TokenPair(
            accessToken: try await signer.sign(userId: user.id, role: user.role, tenantId: user.tenantId, now: now),
            refreshToken: secret.value, tokenType: "Bearer",
            expiresIn: Int(signer.lifetime.components.seconds))
    }
}
