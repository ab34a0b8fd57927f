import Foundation
import ZedgeCore

/// A CloudBox's address at a place (issue #10, item 6): the place's subnet gives the mask, gateway and DNS,
/// IPAM gives the address (ALLOCATED, tagged with the box), and the address the box held from a place
/// before is released (FROZEN) — all in the caller's transaction, which holds the box's row.
public struct CloudBoxAddresses: Sendable {
    let networks: any NetworkRepository
    let addresses: any IpAddressRepository
    let ipam: IpamService

    /// The tag that marks an address as a CloudBox's: `{"cloudBoxId": "<id>"}`.
    public static let tag = "cloudBoxId"

    public init(networks: any NetworkRepository, addresses: any IpAddressRepository, ipam: IpamService) {
        self.networks = networks
        self.addresses = addresses
        self.ipam = ipam
    }

    /// What a place gives a box: its IPv4 subnet with a gateway, and the VPC's DNS servers.
    struct Site: Sendable {
        var subnet: Subnet
        var block: CIDRBlock
        var gateway: IPAddress
        var dnsServers: [String]
    }

    /// Reads the place and its subnet. 400 naming `placeId` when there is no such place, or it is not
    /// ACTIVE, has no subnet, or its subnet is not usable for a box (DISABLED, not IPv4, no gateway, in
    /// another data center than the box).
    func site(placeId: UUID, for box: CloudBox, in tx: Transaction) async throws -> Site {
        func refuse(_ why: String) -> DomainError { DomainError.invalid(field: "placeId", why) }
        guard let place = try await networks.place(placeId, in: tx) else { throw refuse("no such place") }
        guard place.status == .active else { throw refuse("the place is \(place.status.rawValue): only an ACTIVE place gives addresses") }
        guard let subnetId = place.subnetId, let subnet = try await networks.subnet(subnetId, in: tx),
              let vpc = try await networks.vpc(subnet.vpcId, in: tx) else {
            throw refuse("the place has no subnet: bind one to it first (PATCH /api/v1/places/{id} with subnetId)")
        }
        guard subnet.status == .active, vpc.status == .active else { throw refuse("the place's subnet '\(subnet.name)' or its VPC is DISABLED") }
        guard let block = CIDRBlock(subnet.cidrBlock), block.family == .v4 else {
            throw refuse("the place's subnet '\(subnet.name)' (\(subnet.cidrBlock)) is not IPv4: a CloudBox takes IPv4 settings only")
        }
        guard let gateway = subnet.gateway.flatMap(IPAddress.init) else {
            throw refuse("the place's subnet '\(subnet.name)' has no gateway: give it one first")
        }
        if let boxCenter = box.edgeDataCenterId, let subnetCenter = vpc.edgeDataCenterId, boxCenter != subnetCenter {
            throw refuse("the place's subnet '\(subnet.name)' is in another edge data center than the box")
        }
        let dns = vpc.enableDns ? (vpc.dnsServers?.arrayValue ?? []).compactMap(\.stringValue) : []
        return Site(subnet: subnet, block: block, gateway: gateway, dnsServers: Array(dns.prefix(CloudBoxNetworkPayload.maxDnsServers)))
    }

    /// Gives `box` its address at the place and records the settings on it (STATIC, `networkId` = the
    /// subnet); returns the payload for the box's agent. The address is `ipAddress` if given, else the one
    /// the box already holds in that subnet, else the lowest free one; a different address held before is
    /// released. IPAM's errors name `ipAddress` (400 unusable, 409 taken), or `placeId` when the subnet is full.
    func assign(_ box: inout CloudBox, placeId: UUID, ipAddress: IPAddress?, by userId: UUID?, now: Date,
                in tx: Transaction) async throws -> CloudBoxNetworkPayload {
        let site = try await self.site(placeId: placeId, for: box, in: tx)
        let held = try await self.held(by: box, in: tx)
        var row: IpAddress
        if var kept = held, kept.subnetId == site.subnet.id, ipAddress == nil || IPAddress(kept.ipAddress) == ipAddress {
            if kept.macAddress != box.macAddress {
                kept.macAddress = box.macAddress
                kept.updatedAt = now
                try await addresses.update(kept, in: tx)
            }
            row = kept
        } else {
            do {
                row = try await ipam.allocate(IpamService.Allocation(
                    subnetId: site.subnet.id, ipAddress: ipAddress, status: .allocated, macAddress: box.macAddress,
                    tags: [Self.tag: .string(box.id.uuidString)], allocatedBy: userId), now: now, in: tx)
            } catch var error as DomainError {
                error.errors = error.errors.map { $0.field == "subnetId" ? FieldError(field: "placeId", message: $0.message) : $0 }
                throw error
            }
            if let held { _ = try await ipam.release(held.id, now: now, in: tx) }
        }
        let payload = CloudBoxNetworkPayload(
            networkMode: CloudBoxNetworkPayload.staticMode, ipAddress: row.ipAddress, subnetMask: site.block.netmask.description,
            gateway: site.gateway.description, dnsServers: site.dnsServers)
        let problems = payload.validate()
        guard problems.isEmpty else { throw DomainError.invalid(problems) }
        box.networkId = site.subnet.id
        box.networkMode = payload.networkMode
        box.ipAddress = row.ipAddress
        box.subnetMask = payload.subnetMask
        box.gateway = payload.gateway
        box.dnsServers = .array(payload.dnsServers.map { .string($0) })
        return payload
    }

    /// Releases the address the box holds from a place (FROZEN for the cool-down) and forgets the subnet;
    /// whether there was one. A second call finds none and changes nothing.
    func release(_ box: inout CloudBox, now: Date, in tx: Transaction) async throws -> Bool {
        defer { box.networkId = nil }
        guard let held = try await held(by: box, in: tx) else { return false }
        _ = try await ipam.release(held.id, now: now, in: tx)
        return true
    }

    /// The row of the address the box holds from a place: in its `networkId` subnet, at its `ipAddress`,
    /// ALLOCATED and tagged with the box. Nil when it holds none.
    func held(by box: CloudBox, in tx: Transaction) async throws -> IpAddress? {
        guard let subnetId = box.networkId, let text = box.ipAddress, let ip = IPAddress(text),
              let row = try await addresses.row(address: ip.description, in: tx), row.subnetId == subnetId, row.status == .allocated,
              let tagged = row.tags?.objectValue?[Self.tag]?.stringValue.flatMap(UUID.init(uuidString:)), tagged == box.id else { return nil }
        return row
    }
}
