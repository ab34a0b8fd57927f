#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A physical site of a tenant (e.g. a classroom or shop), optionally tied to one subnet.
/// UNIQUE(tenantId, name).
public struct Place: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var tenantId: UUID
    /// UNIQUE when set.
    public var subnetId: UUID?
    public var location: String?
    public var status: PlaceStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: UUID?
    public var updatedBy: UUID?

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        tenantId: UUID,
        subnetId: UUID? = nil,
        location: String? = nil,
        status: PlaceStatus = .active,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        createdBy: UUID? = nil,
        updatedBy: UUID? = nil
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.tenantId = tenantId
        self.subnetId = subnetId
        self.location = location
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }
}

/// Status of a place.
public enum PlaceStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
    case disabled = "DISABLED"
}
