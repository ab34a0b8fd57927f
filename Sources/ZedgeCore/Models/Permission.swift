#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One action on one kind of resource; roles are granted permissions through RolePermission.
public struct Permission: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var resourceType: ResourceType
    public var action: PermissionAction
    /// UNIQUE, e.g. "INSTANCE:CREATE".
    public var permissionName: String
    public var description: String?
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        resourceType: ResourceType,
        action: PermissionAction,
        permissionName: String,
        description: String? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.resourceType = resourceType
        self.action = action
        self.permissionName = permissionName
        self.description = description
        self.createdAt = createdAt
    }
}

/// The kinds of resource that permissions are about.
public enum ResourceType: String, ZedgeEnum {
    case tenant = "TENANT"
    case user = "USER"
    case userGroup = "USER_GROUP"
    case instance = "INSTANCE"
    case instanceSet = "INSTANCE_SET"
    case storage = "STORAGE"
    case network = "NETWORK"
    case image = "IMAGE"
    case server = "SERVER"
    case edgeDc = "EDGE_DC"
    case place = "PLACE"
    case template = "TEMPLATE"
}

/// The actions a permission grants.
public enum PermissionAction: String, ZedgeEnum {
    case create = "CREATE"
    case read = "READ"
    case update = "UPDATE"
    case delete = "DELETE"
    case manage = "MANAGE"
    case execute = "EXECUTE"
}
