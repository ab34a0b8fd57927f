#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A long-lived bearer credential of a user. The key itself is shown once; its SHA-256 hash lives only in
/// the coordinator's store, so this type has no hash field.
public struct ApiKey: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var userId: UUID
    public var name: String
    /// The first characters of the key, to recognise it.
    public var prefix: String
    public var expiresAt: Date?
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        userId: UUID,
        name: String,
        prefix: String,
        expiresAt: Date? = nil,
        lastUsedAt: Date? = nil,
        revokedAt: Date? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.userId = userId
        self.name = name
        self.prefix = prefix
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
    }
}
