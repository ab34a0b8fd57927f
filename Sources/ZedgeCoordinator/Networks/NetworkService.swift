import Foundation
import Logging
import ZedgeCore

/// VPCs, subnets and places (seed §4, DESIGN §10, issue #10): their rules, in one transaction each.
///
/// - A VPC has one CIDR block (IPv4 or IPv6); its subnets lie inside it. Names are unique among a tenant's
///   VPCs that are not DELETED; a VPC is deleted by status, and only once it has no subnets.
/// - A subnet overlaps no other subnet anywhere, because `IpAddress.ipAddress` is UNIQUE across all rows:
///   one of the same VPC or tenant is named in the 409, another tenant's never is. It gets its IP_ADDRESS
///   resource pool, in its VPC's data center, in the same transaction.
/// - VLANs: a subnet's is its own, else its VPC's, else its tenant's (`VlanResolution`). A tenant that has none
///   gets the lowest free id of `tenantVlanRange` with its first subnet. Only ADMIN sets a VLAN by hand,
///   and two tenants never share one.
/// - Places bind a tenant's site to at most one of its subnets (1:1).
public struct NetworkService: Sendable {
    let networks: any NetworkRepository
    let tenants: any ModelRepository<Tenant>
    let edgeDataCenters: any ModelRepository<EdgeDataCenter>
    let ipam: IpamService
    let transactions: Transactions
    /// The VLAN ids tenants are given automatically.
    public let tenantVlanRange: ClosedRange<Int>

    public init(networks: any NetworkRepository, tenants: any ModelRepository<Tenant>, edgeDataCenters: any ModelRepository<EdgeDataCenter>,
                ipam: IpamService, transactions: Transactions, tenantVlanRange: ClosedRange<Int>) {
        self.networks = networks
        self.tenants = tenants
        self.edgeDataCenters = edgeDataCenters
        self.ipam = ipam
        self.transactions = transactions
        self.tenantVlanRange = tenantVlanRange
    }

    /// At most this many DNS servers per VPC (resolv.conf reads three; netplan takes more).
    public static let maximumDnsServers = 8

    // MARK: - Checks shared with the HTTP layer

    /// A CIDR block exactly as Zedge stores it: canonical text, host bits clear ("10.0.0.5/24" is refused
    /// naming "10.0.0.0/24"; "2001:DB8::/32" naming "2001:db8::/32").
    public static func canonicalBlock(_ text: String, field: String) -> Result<CIDRBlock, FieldError> {
        let block: CIDRBlock
        do { block = try CIDRBlock.parse(text) } catch {
            return .failure(FieldError(field: field, message: error.message))
        }
        guard block.description == text else {
            return .failure(FieldError(field: field, message: "must be written canonically: \(block)"))
        }
        if let special = SpecialUseBlocks.overlap(block) {
            return .failure(FieldError(field: field, message: "overlaps \(special), which no tenant network may use"))
        }
        return .success(block)
    }

    /// The largest blocks: a VPC's (IPv4 /8, IPv6 /32) and a subnet's (IPv4 /16, IPv6 /48). Addresses are
    /// unique across tenants, so one huge subnet would lock every other tenant out of its range.
    public static let largestVpc = (v4: 8, v6: 32), largestSubnet = (v4: 16, v6: 48)

    /// 400 naming `field` when `block` is larger than `limit` allows.
    public static func sizeProblem(_ block: CIDRBlock, limit: (v4: Int, v6: Int), field: String) -> FieldError? {
        let smallest = block.family == .v4 ? limit.v4 : limit.v6
        guard block.prefixLength < smallest else { return nil }
        return FieldError(field: field, message: "must be a /\(smallest) or smaller (a longer prefix)")
    }

    /// DNS server addresses: each an IP address, no repeats, at most `maximumDnsServers`; canonical text.
    public static func dnsServers(_ values: [String], field: String) -> Result<[String], FieldError> {
        guard values.count <= maximumDnsServers else {
            return .failure(FieldError(field: field, message: "must have at most \(maximumDnsServers) entries"))
        }
        var seen: [String] = []
        for (i, value) in values.enumerated() {
            guard let ip = IPAddress(value) else {
                return .failure(FieldError(field: "\(field)[\(i)]", message: "must be an IPv4 or IPv6 address"))
            }
            guard !seen.contains(ip.description) else { return .failure(FieldError(field: "\(field)[\(i)]", message: "is listed twice")) }
            seen.append(ip.description)
        }
        return .success(seen)
    }

    // MARK: - VPCs

    /// Creates a VPC. `edgeDataCenterId` must name a data center (400); `vlanId` is for ADMIN only (checked by
    /// the caller) and must not be another tenant's (409).
    public func createVpc(_ vpc: Vpc) async throws -> Vpc {
        if let dc = vpc.edgeDataCenterId, try await edgeDataCenters.find(dc) == nil {
            throw DomainError.invalid(field: "edgeDataCenterId", "no such edge data center")
        }
        guard try await tenants.find(vpc.tenantId).map({ $0.status != .inactive }) == true else { throw DomainError.invalid(field: "tenantId", "no such tenant") }
        let service = self
        return try await transactions.run { tx in
            if let vlan = vpc.vlanId { try await service.requireVlanFree(vlan, for: vpc.tenantId, field: "vlanId", in: tx) }
            try await service.networks.insert(vpc, in: tx)
            return vpc
        }
    }

    /// Writes a changed VPC. `cidrBlock` is fixed once the VPC has subnets, and so are `edgeDataCenterId` and
    /// `vlanId` (their pools and ports already use them): 409 naming the field.
    public func updateVpc(_ changed: Vpc, fields: Set<String>) async throws -> Vpc {
        if fields.contains("edgeDataCenterId"), let dc = changed.edgeDataCenterId, try await edgeDataCenters.find(dc) == nil {
            throw DomainError.invalid(field: "edgeDataCenterId", "no such edge data center")
        }
        let service = self
        return try await transactions.run { tx in
            guard let current = try await service.networks.lockVpc(changed.id, in: tx), current.status != .deleted else {
                throw DomainError.notFound("VPC")
            }
            let subnets = try await service.networks.subnetCount(vpcId: current.id, in: tx)
            for field in ["cidrBlock", "edgeDataCenterId", "vlanId"] where fields.contains(field) && subnets > 0 {
                let same = switch field {
                case "cidrBlock": changed.cidrBlock == current.cidrBlock
                case "edgeDataCenterId": changed.edgeDataCenterId == current.edgeDataCenterId
                default: changed.vlanId == current.vlanId
                }
                if !same { throw DomainError.conflict("The VPC has \(subnets) subnet(s): \(field) can no longer change.", field: field) }
            }
            if fields.contains("vlanId"), let vlan = changed.vlanId, vlan != current.vlanId {
                try await service.requireVlanFree(vlan, for: current.tenantId, field: "vlanId", in: tx)
            }
            try await service.networks.update(changed, in: tx)
            return changed
        }
    }

    /// Deletes a VPC by status (DELETED; its name is free again). 409 while it has subnets.
    public func deleteVpc(_ id: UUID, by userId: UUID, now: Date = Date()) async throws {
        let service = self
        try await transactions.run { tx in
            guard var vpc = try await service.networks.lockVpc(id, in: tx), vpc.status != .deleted else { throw DomainError.notFound("VPC") }
            let subnets = try await service.networks.subnetCount(vpcId: id, in: tx)
            guard subnets == 0 else {
                let noun = subnets == 1 ? "1 subnet" : "\(subnets) subnets"
                throw DomainError(.conflict, "The VPC still has \(noun).",
                                  errors: [FieldError(field: "subnets.vpcId", message: "\(noun) \(subnets == 1 ? "refers" : "refer") to this VPC")])
            }
            vpc.status = .deleted
            vpc.updatedAt = now
            vpc.updatedBy = userId
            try await service.networks.update(vpc, in: tx)
        }
    }

    // MARK: - Subnets

    /// Creates a subnet with its IP_ADDRESS pool, giving the tenant a VLAN if none resolves. Errors: 400 naming
    /// `vpcId` (a DELETED VPC, or one without a data center), `cidrBlock` (another family, outside the VPC) or
    /// `gateway`; 409 naming `cidrBlock` for an overlap, and when no VLAN is left.
    public func createSubnet(_ subnet: Subnet, now: Date = Date()) async throws -> Subnet {
        let service = self
        return try await transactions.run { tx in
            guard let vpc = try await service.networks.lockVpc(subnet.vpcId, in: tx), vpc.status != .deleted else {
                throw DomainError.invalid(field: "vpcId", "no such VPC")
            }
            guard let dataCenterId = vpc.edgeDataCenterId else {
                throw DomainError.invalid(field: "vpcId", "the VPC has no edgeDataCenterId: a subnet's addresses live in one data center, so give the VPC one first")
            }
            guard let vpcBlock = CIDRBlock(vpc.cidrBlock), let block = CIDRBlock(subnet.cidrBlock) else {
                throw DomainError.invalid(field: "cidrBlock", "must be a CIDR block")
            }
            guard vpc.status == .active else {
                throw DomainError.conflict("The VPC is DISABLED: it takes no new subnets.", field: "vpcId")
            }
            guard block.family == vpcBlock.family else {
                throw DomainError.invalid(field: "cidrBlock", "must be of the VPC's address family (the VPC is \(vpc.cidrBlock))")
            }
            guard vpcBlock.contains(block) else {
                throw DomainError.invalid(field: "cidrBlock", "must lie inside the VPC's \(vpc.cidrBlock)")
            }
            if let gateway = subnet.gateway {
                guard let ip = IPAddress(gateway), ip.family == block.family else {
                    throw DomainError.invalid(field: "gateway", "must be an address of the subnet's family")
                }
                if let why = SubnetAddressing.gatewayProblem(ip, in: block) { throw DomainError.invalid(field: "gateway", why) }
            }
            try await service.networks.lockSubnetCreation(in: tx)
            try await service.requireNoOverlap(block, vpc: vpc, in: tx)
            if let vlan = subnet.vlanId { try await service.requireVlanFree(vlan, for: vpc.tenantId, field: "vlanId", in: tx) }
            if subnet.vlanId == nil, vpc.vlanId == nil { try await service.ensureTenantVlan(vpc.tenantId, now: now, in: tx) }

            var stored = subnet
            stored.ipPoolId = nil
            try await service.networks.insert(stored, in: tx)
            let pool = ResourcePool(
                name: "ip-\(subnet.id.uuidString.lowercased())", description: "Addresses of subnet \(subnet.name) (\(subnet.cidrBlock))",
                edgeDataCenterId: dataCenterId, poolType: .ipAddress, subnetId: subnet.id, createdAt: now, updatedAt: now)
            try await service.networks.insert(pool, in: tx)
            stored.ipPoolId = pool.id
            try await service.networks.update(stored, in: tx)
            try await service.ipam.refreshPool(stored, now: now, in: tx)
            return stored
        }
    }

    /// Writes a changed subnet (name, availabilityZone, isPublic, autoAssignIp, status, gateway). A new gateway
    /// must lie inside the subnet and not be held (409 naming `gateway`).
    public func updateSubnet(_ changed: Subnet, fields: Set<String>, now: Date = Date()) async throws -> Subnet {
        let service = self
        return try await transactions.run { tx in
            guard let current = try await service.networks.lockSubnet(changed.id, in: tx) else { throw DomainError.notFound("Subnet") }
            if fields.contains("gateway"), changed.gateway != current.gateway, let gateway = changed.gateway {
                guard let block = CIDRBlock(current.cidrBlock), let ip = IPAddress(gateway), ip.family == block.family else {
                    throw DomainError.invalid(field: "gateway", "must be an address of the subnet's family")
                }
                if let why = SubnetAddressing.gatewayProblem(ip, in: block) { throw DomainError.invalid(field: "gateway", why) }
                let held = try await service.ipam.heldRanges(current.id, now: now, in: tx)
                if held.contains(where: { $0.start <= ip.numericValue && ip.numericValue <= $0.end }) {
                    throw DomainError.conflict("\(ip) is in use in this subnet: it cannot become the gateway.", field: "gateway")
                }
            }
            try await service.networks.update(changed, in: tx)
            try await service.ipam.refreshPool(changed, now: now, in: tx)
            return changed
        }
    }

    /// Deletes a subnet, its IP_ADDRESS pool and its address history. 409 while any address is ALLOCATED or
    /// RESERVED (FROZEN ones do not block it); a place bound to it is unbound.
    public func deleteSubnet(_ id: UUID, now: Date = Date()) async throws {
        let service = self
        try await transactions.run { tx in
            guard let subnet = try await service.networks.lockSubnet(id, in: tx) else { throw DomainError.notFound("Subnet") }
            let usage = try await service.ipam.usage(of: subnet, now: now, in: tx)
            let inUse = usage.allocated + usage.reserved
            guard inUse == 0 else {
                let noun = inUse == 1 ? "1 held IP address" : "\(inUse) held IP addresses"
                throw DomainError(.conflict,
                                  "The subnet still has \(noun) (\(usage.allocated) ALLOCATED, \(usage.reserved) RESERVED): release them, or delete the instances that hold them, first.",
                                  errors: [FieldError(field: "ipAddresses.subnetId", message: "\(noun) \(inUse == 1 ? "is" : "are") in this subnet")])
            }
            try await service.ipam.forgetHistory(subnetId: id, in: tx)
            var unlinked = subnet
            unlinked.ipPoolId = nil
            try await service.networks.update(unlinked, in: tx)
            if let poolId = subnet.ipPoolId { try await service.networks.deletePool(poolId, in: tx) }
            try await service.networks.deleteSubnet(id, in: tx)
        }
    }

    /// 409 naming `cidrBlock` when the block overlaps any subnet: one of this tenant is named, another
    /// tenant's is not (nothing about other tenants can be probed beyond "taken").
    func requireNoOverlap(_ block: CIDRBlock, vpc: Vpc, in tx: Transaction) async throws {
        for other in try await networks.footprints(in: tx) {
            guard let otherBlock = CIDRBlock(other.cidrBlock), otherBlock.overlaps(block) else { continue }
            if other.tenantId != vpc.tenantId {
                throw DomainError.conflict("\(block) overlaps addresses already in use by another tenant: choose another block.", field: "cidrBlock")
            }
            let whose = other.vpcId == vpc.id ? "of this VPC" : "of another VPC of this tenant (addresses are unique across VPCs)"
            throw DomainError.conflict("\(block) overlaps subnet '\(other.name)' (\(other.cidrBlock)) \(whose).", field: "cidrBlock")
        }
    }

    // MARK: - VLANs

    /// 409 naming `field` when `vlan` is used by a tenant other than `tenantId` (its own, its VPCs' or its
    /// subnets'), without saying which.
    public func requireVlanFree(_ vlan: Int, for tenantId: UUID, field: String, in tx: Transaction) async throws {
        if try await networks.vlansInUse(in: tx).contains(where: { $0.vlanId == vlan && $0.tenantId != tenantId }) {
            throw DomainError.conflict("VLAN \(vlan) belongs to another tenant.", field: field)
        }
    }

    /// Checks a VLAN an ADMIN gives a tenant by hand: no other tenant uses it (409 naming `vlanId`), and the
    /// tenant's own subnets do not carry the one it has now (409: their ports would change VLAN under running
    /// guests).
    public func checkTenantVlan(_ vlan: Int?, for tenantId: UUID, current: Int?) async throws {
        let service = self
        try await transactions.run { tx in
            if let vlan { try await service.requireVlanFree(vlan, for: tenantId, field: "vlanId", in: tx) }
            if let current, vlan != current, try await service.networks.subnetCount(tenantId: tenantId, in: tx) > 0 {
                throw DomainError.conflict("The tenant's subnets use VLAN \(current): vlanId can no longer change.", field: "vlanId")
            }
        }
    }

    /// Gives the tenant the lowest VLAN of `tenantVlanRange` that nobody uses, unless it has one. 409 when
    /// the range is used up. (Runs under the subnet-creation lock; UNIQUE(tenants.vlan_id) stands behind it.)
    func ensureTenantVlan(_ tenantId: UUID, now: Date, in tx: Transaction) async throws {
        guard var tenant = try await networks.lockTenant(tenantId, in: tx) else { throw DomainError.invalid(field: "tenantId", "no such tenant") }
        guard tenant.vlanId == nil else { return }
        let used = Set(try await networks.vlansInUse(in: tx).map(\.vlanId))
        guard let free = tenantVlanRange.first(where: { !used.contains($0) }) else {
            throw DomainError.conflict(
                "No VLAN is left in the range \(tenantVlanRange.lowerBound)-\(tenantVlanRange.upperBound) for this tenant's networks; ask an administrator.")
        }
        tenant.vlanId = free
        tenant.updatedAt = now
        try await networks.update(tenant, in: tx)
    }

    // MARK: - Places

    /// Creates or changes a place: `subnetId` must be a subnet of the place's tenant (400) and no other
    /// place's (409, UNIQUE).
    public func savePlace(_ place: Place, isNew: Bool) async throws -> Place {
        let service = self
        return try await transactions.run { tx in
            if let subnetId = place.subnetId {
                guard let subnet = try await service.networks.subnet(subnetId, in: tx),
                      let vpc = try await service.networks.vpc(subnet.vpcId, in: tx), vpc.tenantId == place.tenantId else {
                    throw DomainError.invalid(field: "subnetId", "no such subnet in the place's tenant")
                }
            }
            if isNew { try await service.networks.insert(place, in: tx) } else { try await service.networks.update(place, in: tx) }
            return place
        }
    }

    public func deletePlace(_ id: UUID) async throws {
        let service = self
        try await transactions.run { tx in try await service.networks.deletePlace(id, in: tx) }
    }
}
