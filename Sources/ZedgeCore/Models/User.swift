#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A person or service account that signs in to Zedge.
///
/// SECRETS RULE: this type deliberately has no `passwordHash` (the seed's column). The hash lives only in the
/// coordinator's store, never in a type that can be serialised into a response.
public struct User: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    /// UNIQUE.
    public var username: String
    /// UNIQUE.
    public var email: String
    public var role: UserRole
    public var status: UserStatus
    public var tenantId: UUID?
    public var quotaConfig: QuotaConfig?
    public var lastLoginAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        username: String,
        email: String,
        role: UserRole,
        status: UserStatus,
        tenantId: UUID? = nil,
        quotaConfig: QuotaConfig? = nil,
        lastLoginAt: Date? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.username = username
        self.email = email
        self.role = role
        self.status = status
        self.tenantId = tenantId
        self.quotaConfig = quotaConfig
        self.lastLoginAt = lastLoginAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Whether a user may sign in.
public enum UserStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
    case locked = "LOCKED"
}
