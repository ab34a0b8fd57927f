#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A tenant's private network (an IPv4 CIDR block), optionally bound to a data center and VLAN.
/// UNIQUE(tenantId, name).
public struct Vpc: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var tenantId: UUID
    public var userId: UUID
    /// Canonical CIDR text, e.g. "10.0.0.0/16"; see `CIDRBlock`.
    public var cidrBlock: String
    public var edgeDataCenterId: UUID?
    public var vlanId: Int?
    public var enableDns: Bool
    /// JSON array of IP address strings.
    public var dnsServers: JSONValue?
    public var status: VpcStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: UUID?
    public var updatedBy: UUID?

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        tenantId: UUID,
        userId: UUID,
        cidrBlock: String,
        edgeDataCenterId: UUID? = nil,
        vlanId: Int? = nil,
        enableDns: Bool = true,
        dnsServers: JSONValue? = nil,
        status: VpcStatus = .active,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        createdBy: UUID? = nil,
        updatedBy: UUID? = nil
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.tenantId = tenantId
        self.userId = userId
        self.cidrBlock = cidrBlock
        self.edgeDataCenterId = edgeDataCenterId
        self.vlanId = vlanId
        self.enableDns = enableDns
        self.dnsServers = dnsServers
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }
}

/// Lifecycle of a VPC.
public enum VpcStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case disabled = "DISABLED"
    case deleted = "DELETED"
}
