import Foundation
import ZedgeCore

/// An authenticated caller: a user acting through an access token or an API key.
public struct Principal: Sendable, Hashable {
    public enum Credential: Sendable, Hashable {
        case accessToken
        case apiKey(UUID)
    }

    public var userId: UUID
    public var username: String
    public var role: UserRole
    public var tenantId: UUID?
    public var credential: Credential

    public init(userId: UUID, username: String, role: UserRole, tenantId: UUID?, credential: Credential) {
        self.userId = userId
        self.username = username
        self.role = role
        self.tenantId = tenantId
        self.credential = credential
    }
}
