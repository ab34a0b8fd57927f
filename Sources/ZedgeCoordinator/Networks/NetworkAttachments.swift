import Foundation
import ZedgeCore

/// An instance's NICs on its tenant's subnets (issue #10): checked before placement (`plan`), given
/// addresses and MACs inside the creating transaction (`attach`), released when the instance is deleted.
public struct NetworkAttachments: Sendable {
    let networks: any NetworkRepository
    let tenants: any ModelRepository<Tenant>
    let addresses: any IpAddressRepository
    let ipam: IpamService

    public init(networks: any NetworkRepository, tenants: any ModelRepository<Tenant>, addresses: any IpAddressRepository, ipam: IpamService) {
        self.networks = networks
        self.tenants = tenants
        self.addresses = addresses
        self.ipam = ipam
    }

    /// One NIC an instance create asks for: a subnet of its tenant, and optionally the address.
    public struct NicRequest: Codable, Sendable, Hashable {
        public var subnetId: UUID
        public var ipAddress: String?

        public init(subnetId: UUID, ipAddress: String? = nil) {
            self.subnetId = subnetId
            self.ipAddress = ipAddress
        }
    }

    /// At most this many NICs per instance (libvirt allows more; guests and people rarely want them).
    public static let maximumNics = 8

    /// The NICs, checked: where the instance must run and what each NIC gets.
    public struct Plan: Sendable {
        /// The data center every subnet's addresses live in; placement stays inside it.
        public var edgeDataCenterId: UUID?
        var nics: [Planned]
        public var isEmpty: Bool { nics.isEmpty }
    }

    struct Planned: Sendable {
        var subnet: Subnet
        var requested: IPAddress?
        var prefixLength: Int
        var vlanId: Int
        var dnsServers: [String]
        var field: String
    }

    /// Reads the template's default NICs from its `networkConfig` when it is `{"networks": [{"subnetId": …}]}`
    /// (a cloud-init document, with `version`, is not a list of NICs); 400 naming `networkConfig` when the
    /// list does not decode.
    public static func templateDefault(_ networkConfig: JSONValue?) throws -> [NicRequest]? {
        guard let list = networkConfig?.objectValue?["networks"] else { return nil }
        do { return try list.decode(as: [NicRequest].self) } catch {
            throw DomainError.invalid(field: "networkConfig.networks", "the template's networks must be a list of {subnetId, ipAddress?}")
        }
    }

    /// Checks the requested NICs for an instance of `tenantId`: each subnet is the tenant's (else 400 "no such
    /// subnet", whoever's it is), ACTIVE in an ACTIVE VPC, given once, with a resolvable VLAN, and all in one
    /// data center (400 naming `networks`); a requested address must be one of the subnet's family.
    public func plan(_ requests: [NicRequest], tenantId: UUID) async throws -> Plan {
        guard requests.count <= Self.maximumNics else {
            throw DomainError.invalid(field: "networks", "must have at most \(Self.maximumNics) entries")
        }
        guard !requests.isEmpty else { return Plan(edgeDataCenterId: nil, nics: []) }
        let tenantVlan = try await tenants.find(tenantId)?.vlanId
        var planned: [Planned] = []
        var dataCenter: UUID? = nil
        for (i, request) in requests.enumerated() {
            let field = "networks[\(i)]."
            guard let subnet = try await networks.subnets.find(request.subnetId),
                  let vpc = try await networks.vpcs.find(subnet.vpcId), vpc.tenantId == tenantId, vpc.status != .deleted else {
                throw DomainError.invalid(field: field + "subnetId", "no such subnet")
            }
            guard vpc.status == .active, subnet.status == .active else {
                throw DomainError.invalid(field: field + "subnetId", "the subnet or its VPC is DISABLED")
            }
            guard !planned.contains(where: { $0.subnet.id == subnet.id }) else {
                throw DomainError.invalid(field: field + "subnetId", "is given twice: one NIC per subnet")
            }
            guard let block = CIDRBlock(subnet.cidrBlock) else { throw DomainError.invalid(field: field + "subnetId", "the subnet's CIDR is unreadable") }
            var requested: IPAddress? = nil
            if let text = request.ipAddress {
                guard let ip = IPAddress(text) else { throw DomainError.invalid(field: field + "ipAddress", "must be an IPv4 or IPv6 address") }
                if let why = SubnetAddressing(block: block, gateway: subnet.gateway.flatMap(IPAddress.init)).unusable(ip) {
                    throw DomainError.invalid(field: field + "ipAddress", why)
                }
                requested = ip
            }
            if let dataCenter, dataCenter != vpc.edgeDataCenterId {
                throw DomainError.invalid(field: "networks", "all subnets of an instance must be in one edge data center")
            }
            dataCenter = vpc.edgeDataCenterId
            guard let vlan = VlanResolution.vlan(subnet: subnet.vlanId, vpc: vpc.vlanId, tenant: tenantVlan) else {
                throw DomainError.conflict("Subnet '\(subnet.name)' has no VLAN (nor its VPC or tenant).", field: field + "subnetId")
            }
            let dns = vpc.enableDns ? (vpc.dnsServers?.arrayValue ?? []).compactMap(\.stringValue) : []
            planned.append(Planned(subnet: subnet, requested: requested, prefixLength: block.prefixLength, vlanId: vlan, dnsServers: dns,
                                   field: field))
        }
        return Plan(edgeDataCenterId: dataCenter, nics: planned)
    }

    /// Allocates each planned NIC's address (ALLOCATED to the instance) and a MAC no ALLOCATED address
    /// carries, in the caller's transaction; the NICs in order.
    public func attach(_ plan: Plan, instanceId: UUID, by userId: UUID, now: Date, in tx: Transaction) async throws -> [InstanceNetwork] {
        var generator = SystemRandomNumberGenerator()
        var nics: [InstanceNetwork] = []
        for nic in plan.nics {
            var mac = InstanceNetwork.randomMac(using: &generator)
            while try await addresses.macInUse(mac, in: tx) || nics.contains(where: { $0.macAddress == mac }) {
                mac = InstanceNetwork.randomMac(using: &generator)
            }
            let row = try await ipam.allocate(IpamService.Allocation(
                subnetId: nic.subnet.id, ipAddress: nic.requested, status: .allocated, instanceId: instanceId, macAddress: mac,
                allocatedBy: userId, field: nic.field), now: now, in: tx)
            nics.append(InstanceNetwork(
                subnetId: nic.subnet.id, ipAddressId: row.id, ipAddress: row.ipAddress, prefixLength: nic.prefixLength,
                gateway: nic.subnet.gateway, dnsServers: nic.dnsServers, vlanId: nic.vlanId, macAddress: mac))
        }
        return nics
    }

    /// Releases every address of the instance, once (FROZEN for the cool-down).
    public func release(instanceId: UUID, now: Date, in tx: Transaction) async throws {
        try await ipam.release(instanceId: instanceId, now: now, in: tx)
    }
}

extension NetworkAttachments.NicRequest: FieldRuleDeclaring {
    public static var fieldRules: [String: FieldRule] { ["ipAddress": .ipAddress] }
}
