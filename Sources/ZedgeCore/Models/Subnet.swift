#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A CIDR range inside a VPC, optionally backed by an IP-address resource pool. UNIQUE(vpcId, cidrBlock).
public struct Subnet: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var vpcId: UUID
    public var cidrBlock: String
    public var availabilityZone: String?
    public var gateway: String?
    public var vlanId: Int?
    public var isPublic: Bool
    public var autoAssignIp: Bool
    /// UNIQUE when set.
    public var ipPoolId: UUID?
    public var status: SubnetStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: UUID?
    public var updatedBy: UUID?

    public init(
        id: UUID = .v7(),
        name: String,
        vpcId: UUID,
        cidrBlock: String,
        availabilityZone: String? = nil,
        gateway: String? = nil,
        vlanId: Int? = nil,
        isPublic: Bool = false,
        autoAssignIp: Bool = true,
        ipPoolId: UUID? = nil,
        status: SubnetStatus = .active,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        createdBy: UUID? = nil,
        updatedBy: UUID? = nil
    ) {
        self.id = id
        self.name = name
        self.vpcId = vpcId
        self.cidrBlock = cidrBlock
        self.availabilityZone = availabilityZone
        self.gateway = gateway
        self.vlanId = vlanId
        self.isPublic = isPublic
        self.autoAssignIp = autoAssignIp
        self.ipPoolId = ipPoolId
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }
}

/// Status of a subnet.
public enum SubnetStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case disabled = "DISABLED"
}
