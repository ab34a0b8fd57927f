#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A rotating refresh token; reuse of a used token revokes its whole family. No hash field: the hash lives
/// only in the coordinator's store.
public struct RefreshToken: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var userId: UUID
    public var familyId: UUID
    public var expiresAt: Date
    public var revokedAt: Date?
    public var usedAt: Date?
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        userId: UUID,
        familyId: UUID,
        expiresAt: Date,
        revokedAt: Date? = nil,
        usedAt: Date? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.userId = userId
        self.familyId = familyId
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.usedAt = usedAt
        self.createdAt = createdAt
    }
}
