import Foundation
import ZedgeCore

/// Resolves a bearer credential (an access token or an API key) to a `Principal`, reading the user fresh
/// so that a LOCKED or INACTIVE user, or a changed role, takes effect on the next request.
public struct Authenticator: Sendable {
    let users: any UserRepository
    let apiKeys: any ApiKeyRepository
    let signer: TokenSigner
    let agentCredentials: any AgentCredentialRepository
    /// lastUsedAt is written at most this often per key.
    let touchInterval: TimeInterval = 60

    public init(
        users: any UserRepository, apiKeys: any ApiKeyRepository, signer: TokenSigner,
        agentCredentials: any AgentCredentialRepository
    ) {
        self.users = users
        self.apiKeys = apiKeys
        self.signer = signer
        self.agentCredentials = agentCredentials
    }

    /// The agent a credential names; user tokens and API keys are refused on `/agent` (401).
    public func agent(for bearer: String) async throws -> AgentPrincipal {
        guard SecretToken.kind(of: bearer) == .agentCredential else {
            throw DomainError.unauthorized("Only agent credentials are accepted on /agent.")
        }
        guard let credential = try await agentCredentials.find(secretHash: SecretToken.hash(bearer)),
              credential.revokedAt == nil,
              credential.computeMachineId != nil || credential.cloudBoxId != nil else {
            throw DomainError.unauthorized("Unknown or revoked agent credential; register the agent again.")
        }
        return AgentPrincipal(
            credentialId: credential.id, computeMachineId: credential.computeMachineId, cloudBoxId: credential.cloudBoxId)
    }

    public func principal(for bearer: String, now: Date = Date()) async throws -> Principal {
        if SecretToken.kind(of: bearer) == .agentCredential {
            throw DomainError.forbidden("Agent credentials may not call /api.")
        }
        if SecretToken.kind(of: bearer) == .apiKey {
            guard let key = try await apiKeys.find(keyHash: SecretToken.hash(bearer)), key.revokedAt == nil else {
                throw DomainError.unauthorized("Unknown or revoked API key.")
            }
            if let expiresAt = key.expiresAt, expiresAt <= now {
                throw DomainError.unauthorized("This API key has expired.")
            }
            let user = try await activeUser(key.userId)
            if key.lastUsedAt.map({ now.timeIntervalSince($0) > touchInterval }) ?? true {
                try await apiKeys.touch(key.id, at: now)
            }
            return Principal(userId: user.id, username: user.username, role: user.role, tenantId: user.tenantId, credential: .apiKey(key.id))
        }
        guard let claims = await signer.verify(bearer, now: now), let userId = UUID(uuidString: claims.sub.value) else {
            throw DomainError.unauthorized("Invalid or expired access token.")
        }
        let user = try await activeUser(userId)
        return Principal(userId: user.id, username: user.username, role: user.role, tenantId: user.tenantId, credential: .accessToken)
    }

    private func activeUser(_ id: UUID) async throws -> User {
        guard let user = try await users.find(id) else { throw DomainError.unauthorized("Unknown user.") }
        guard user.status == .active else {
            throw DomainError.unauthorized("This account is \(user.status.rawValue.lowercased()).")
        }
        return user
    }
}
