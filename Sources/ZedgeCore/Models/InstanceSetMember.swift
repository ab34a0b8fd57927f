#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Membership of an instance in a set, with a free-form role. UNIQUE(setId, instanceId).
public struct InstanceSetMember: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var setId: UUID
    public var instanceId: UUID
    public var role: String
    public var joinedAt: Date
    public var addedBy: UUID?

    public init(
        id: UUID = .v7(),
        setId: UUID,
        instanceId: UUID,
        role: String,
        joinedAt: Date = Date(),
        addedBy: UUID? = nil
    ) {
        self.id = id
        self.setId = setId
        self.instanceId = instanceId
        self.role = role
        self.joinedAt = joinedAt
        self.addedBy = addedBy
    }
}
