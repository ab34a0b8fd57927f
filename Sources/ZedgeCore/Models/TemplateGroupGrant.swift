#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user group that may read and use a GROUP_SPECIFIC template.
///
/// Not in the seed, which names the visibility but not the groups it is specific to.
public struct TemplateGroupGrant: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var templateId: UUID
    public var userGroupId: UUID
    public var createdAt: Date

    public init(id: UUID = .v7(), templateId: UUID, userGroupId: UUID, createdAt: Date = Date()) {
        self.id = id
        self.templateId = templateId
        self.userGroupId = userGroupId
        self.createdAt = createdAt
    }
}
