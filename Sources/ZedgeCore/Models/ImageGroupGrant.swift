#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user group that may read and use a GROUP_SPECIFIC image (as `TemplateGroupGrant` for templates).
///
/// Not in the seed, which names the visibility but not the groups it is specific to.
public struct ImageGroupGrant: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var imageId: UUID
    public var userGroupId: UUID
    public var createdAt: Date

    public init(id: UUID = .v7(), imageId: UUID, userGroupId: UUID, createdAt: Date = Date()) {
        self.id = id
        self.imageId = imageId
        self.userGroupId = userGroupId
        self.createdAt = createdAt
    }
}
