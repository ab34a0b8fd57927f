#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Membership of a user in a group. UNIQUE(groupId, userId).
public struct UserGroupMember: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var groupId: UUID
    public var userId: UUID
    public var joinedAt: Date
    public var addedBy: UUID?

    public init(
        id: UUID = .v7(),
        groupId: UUID,
        userId: UUID,
        joinedAt: Date = Date(),
        addedBy: UUID? = nil
    ) {
        self.id = id
        self.groupId = groupId
        self.userId = userId
        self.joinedAt = joinedAt
        self.addedBy = addedBy
    }
}
