#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A named collection of instances (a project, department, class, …). UNIQUE(tenantId, name).
public struct InstanceSet: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var ownerId: UUID
    public var tenantId: UUID
    public var userGroupId: UUID?
    public var setType: InstanceSetType
    public var status: InstanceSetStatus
    public var tags: JSONValue?
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: UUID?
    public var updatedBy: UUID?

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        ownerId: UUID,
        tenantId: UUID,
        userGroupId: UUID? = nil,
        setType: InstanceSetType = .custom,
        status: InstanceSetStatus = .active,
        tags: JSONValue? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        createdBy: UUID? = nil,
        updatedBy: UUID? = nil
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.ownerId = ownerId
        self.tenantId = tenantId
        self.userGroupId = userGroupId
        self.setType = setType
        self.status = status
        self.tags = tags
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }
}

/// Purpose of an instance set.
public enum InstanceSetType: String, ZedgeEnum {
    case project = "PROJECT"
    case department = "DEPARTMENT"
    case application = "APPLICATION"
    case training = "TRAINING"
    case custom = "CUSTOM"
}

/// Lifecycle of an instance set.
public enum InstanceSetStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case archived = "ARCHIVED"
    case deleted = "DELETED"
}
