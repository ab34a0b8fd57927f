#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One address (or the start of a range) in an IP pool, and who holds it.
public struct IpAddress: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    /// UNIQUE.
    public var ipAddress: String
    public var ipPoolId: UUID
    public var subnetId: UUID
    public var status: IpAddressStatus
    public var instanceId: UUID?
    public var macAddress: String?
    public var allocatedAt: Date?
    public var allocatedBy: UUID?
    public var leaseExpiresAt: Date?
    public var isRangeStart: Bool
    public var rangeSize: Int
    public var tags: JSONValue?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        ipAddress: String,
        ipPoolId: UUID,
        subnetId: UUID,
        status: IpAddressStatus = .available,
        instanceId: UUID? = nil,
        macAddress: String? = nil,
        allocatedAt: Date? = nil,
        allocatedBy: UUID? = nil,
        leaseExpiresAt: Date? = nil,
        isRangeStart: Bool = false,
        rangeSize: Int = 1,
        tags: JSONValue? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.ipAddress = ipAddress
        self.ipPoolId = ipPoolId
        self.subnetId = subnetId
        self.status = status
        self.instanceId = instanceId
        self.macAddress = macAddress
        self.allocatedAt = allocatedAt
        self.allocatedBy = allocatedBy
        self.leaseExpiresAt = leaseExpiresAt
        self.isRangeStart = isRangeStart
        self.rangeSize = rangeSize
        self.tags = tags
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Status of a pool address.
public enum IpAddressStatus: String, ZedgeEnum {
    case available = "AVAILABLE"
    case allocated = "ALLOCATED"
    case reserved = "RESERVED"
    case frozen = "FROZEN"
}
