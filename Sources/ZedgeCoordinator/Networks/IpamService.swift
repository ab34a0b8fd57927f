import Foundation
import Logging
import ZedgeCore

/// IP address management over the `ip_addresses` rows (DESIGN §10, issue #10): the lowest free address of a
/// subnet or the one asked for, ranges, release into a FROZEN cool-down, and leases.
///
/// Exact under concurrency: every allocation and release holds the subnet's row for its transaction
/// (`SELECT … FOR UPDATE` on PostgreSQL, so across replicas too; SQLite's one write lock), and
/// UNIQUE(ip_address) stands behind it. Each change refreshes the counts in the subnet's IP_ADDRESS pool
/// (`ResourcePool.ipPoolConfig`).
public struct IpamService: Sendable {
    let networks: any NetworkRepository
    let addresses: any IpAddressRepository
    let transactions: Transactions
    /// How long a released address stays FROZEN before it can be handed out again, in seconds.
    public let coolDown: TimeInterval
    let logger: Logger

    public init(networks: any NetworkRepository, addresses: any IpAddressRepository, transactions: Transactions,
                coolDown: TimeInterval, logger: Logger) {
        self.networks = networks
        self.addresses = addresses
        self.transactions = transactions
        self.coolDown = coolDown
        self.logger = logger
    }

    /// What an allocation asks for. `field` prefixes the field names of errors ("networks[0]." for an instance's
    /// NIC; "" for `POST /ip-addresses`).
    public struct Allocation: Sendable {
        public var subnetId: UUID
        public var ipAddress: IPAddress?
        public var status: IpAddressStatus = .allocated
        public var instanceId: UUID?
        public var macAddress: String?
        public var rangeSize: Int = 1
        public var leaseExpiresAt: Date?
        public var tags: JSONValue?
        public var allocatedBy: UUID?
        public var field: String = ""

        public init(subnetId: UUID, ipAddress: IPAddress? = nil, status: IpAddressStatus = .allocated, instanceId: UUID? = nil,
                    macAddress: String? = nil, rangeSize: Int = 1, leaseExpiresAt: Date? = nil, tags: JSONValue? = nil,
                    allocatedBy: UUID? = nil, field: String = "") {
            self.subnetId = subnetId
            self.ipAddress = ipAddress
            self.status = status
            self.instanceId = instanceId
            self.macAddress = macAddress
            self.rangeSize = rangeSize
            self.leaseExpiresAt = leaseExpiresAt
            self.tags = tags
            self.allocatedBy = allocatedBy
            self.field = field
        }
    }

    /// Allocates in the caller's transaction: 400 naming `ipAddress` for an address the subnet can never hand
    /// out, 409 naming it when it is held, 409 when the subnet has no run of `rangeSize` free addresses left
    /// or is DISABLED.
    public func allocate(_ request: Allocation, now: Date, in tx: Transaction) async throws -> IpAddress {
        guard let subnet = try await networks.lockSubnet(request.subnetId, in: tx) else {
            throw DomainError.invalid(field: request.field + "subnetId", "no such subnet")
        }
        guard subnet.status == .active, try await networks.vpc(subnet.vpcId, in: tx)?.status == .active else {
            throw DomainError.conflict("Subnet '\(subnet.name)' or its VPC is DISABLED: it hands out no addresses.", field: request.field + "subnetId")
        }
        if request.rangeSize > 1, let addressing = SubnetAddressing(cidrBlock: subnet.cidrBlock, gateway: subnet.gateway),
           UInt128(request.rangeSize) > addressing.usableCount {
            throw DomainError.invalid(field: request.field + "rangeSize", "is larger than the subnet's \(addressing.usableCount) usable addresses")
        }
        guard let poolId = subnet.ipPoolId, let addressing = SubnetAddressing(cidrBlock: subnet.cidrBlock, gateway: subnet.gateway) else {
            throw DomainError.conflict("Subnet '\(subnet.name)' has no IP address pool.", field: request.field + "subnetId")
        }
        let holds = try await heldRanges(subnet.id, now: now, in: tx)
        let address: IPAddress
        switch AddressAllocator.allocate(in: addressing, holds: holds, requested: request.ipAddress, count: request.rangeSize) {
        case .success(let a): address = a
        case .failure(.unusable(let why)): throw DomainError.invalid(field: request.field + "ipAddress", why)
        case .failure(.taken(let a)):
            throw DomainError.conflict(try await takenMessage(a, in: subnet, now: now, tx: tx), field: request.field + "ipAddress")
        case .failure(.exhausted):
            let what = request.rangeSize > 1 ? "no run of \(request.rangeSize) free addresses" : "no free address"
            throw DomainError.conflict("Subnet '\(subnet.name)' (\(subnet.cidrBlock)) has \(what) left.", field: request.field + "subnetId")
        }
        let text = address.description
        // An address that was held before keeps its row (its history); otherwise it gets its first.
        let existing = try await addresses.row(address: text, in: tx)
        var row = existing ?? IpAddress(ipAddress: text, ipPoolId: poolId, subnetId: subnet.id, createdAt: now, updatedAt: now)
        row.ipPoolId = poolId
        row.subnetId = subnet.id
        row.status = request.status
        row.instanceId = request.instanceId
        row.macAddress = request.macAddress
        row.allocatedAt = now
        row.allocatedBy = request.allocatedBy
        row.leaseExpiresAt = request.leaseExpiresAt
        row.isRangeStart = request.rangeSize > 1
        row.rangeSize = request.rangeSize
        row.tags = request.tags
        row.updatedAt = now
        if existing == nil { try await addresses.insert(row, in: tx) } else { try await addresses.update(row, in: tx) }
        try await refreshPool(subnet, now: now, in: tx)
        return row
    }

    /// "10.0.0.5 is ALLOCATED in subnet 'lan'." or, for a frozen one, "… is FROZEN until 2026-…Z (released
    /// addresses cool down before reuse)."; a range's start is named for an address inside it.
    func takenMessage(_ address: IPAddress, in subnet: Subnet, now: Date, tx: Transaction) async throws -> String {
        let value = address.numericValue
        for row in try await addresses.holding(subnetId: subnet.id, in: tx) {
            guard let start = IPAddress(row.ipAddress)?.numericValue else { continue }
            let hold = AddressHold(start: start, count: UInt128(max(row.rangeSize, 1)))
            guard hold.start <= value, value <= hold.end else { continue }
            let state = IpAddressLifecycle(status: row.status, leaseExpiresAt: row.leaseExpiresAt).at(now, coolDown: coolDown)
            let inRange = row.rangeSize > 1 ? " (in the range from \(row.ipAddress))" : ""
            if state.status == .frozen, let until = state.leaseExpiresAt {
                return "\(address) is FROZEN\(inRange) until \(ZedgeJSON.formatDate(until)) in subnet '\(subnet.name)': released addresses cool down before reuse."
            }
            return "\(address) is \(state.status.rawValue)\(inRange) in subnet '\(subnet.name)'."
        }
        return "\(address) is already in use in subnet '\(subnet.name)'."
    }

    /// Releases one row (FROZEN for the cool-down); releasing what is not held changes nothing.
    public func release(_ id: UUID, now: Date, in tx: Transaction) async throws -> IpAddress? {
        guard let found = try await addresses.find(id, in: tx),
              let subnet = try await networks.lockSubnet(found.subnetId, in: tx),
              var row = try await addresses.find(id, in: tx) else { return nil }
        let next = IpAddressLifecycle(status: row.status, leaseExpiresAt: row.leaseExpiresAt).released(at: now, coolDown: coolDown)
        guard next.status != row.status || next.leaseExpiresAt != row.leaseExpiresAt else { return row }
        row.status = next.status
        row.leaseExpiresAt = next.leaseExpiresAt
        row.updatedAt = now
        try await addresses.update(row, in: tx)
        try await refreshPool(subnet, now: now, in: tx)
        return row
    }

    /// Releases every address the instance holds, once: a second call finds none ALLOCATED and changes nothing.
    @discardableResult
    public func release(instanceId: UUID, now: Date, in tx: Transaction) async throws -> [IpAddress] {
        var released: [IpAddress] = []
        for row in try await addresses.allocated(instanceId: instanceId, in: tx).sorted(by: { $0.subnetId.uuidString < $1.subnetId.uuidString }) {
            if let done = try await release(row.id, now: now, in: tx) { released.append(done) }
        }
        return released
    }

    /// Deletes every row of a subnet that is being deleted (the caller has checked none holds an address).
    func forgetHistory(subnetId: UUID, in tx: Transaction) async throws {
        try await addresses.deleteAll(subnetId: subnetId, in: tx)
    }

    /// The address holds of a subnet at `now`: rows whose lease or freeze has run out hold nothing, whether or
    /// not the sweeper has passed yet.
    func heldRanges(_ subnetId: UUID, now: Date, in tx: Transaction) async throws -> [AddressHold] {
        try await addresses.holding(subnetId: subnetId, in: tx).compactMap { row in
            guard IpAddressLifecycle(status: row.status, leaseExpiresAt: row.leaseExpiresAt).holds(at: now, coolDown: coolDown),
                  let ip = IPAddress(row.ipAddress) else { return nil }
            return AddressHold(start: ip.numericValue, count: UInt128(max(row.rangeSize, 1)))
        }
    }

    /// How the subnet's addresses stand at `now`: the numbers its pool shows.
    public struct Usage: Codable, Sendable, Hashable {
        /// Addresses the subnet can hand out (network, broadcast and gateway left out), as a decimal string:
        /// an IPv6 /64 has more than JSON numbers hold exactly.
        public var totalAddresses: String
        /// `totalAddresses` less every held one, a decimal string.
        public var freeAddresses: String
        public var allocated: Int
        public var reserved: Int
        public var frozen: Int
    }

    /// The subnet's usage at `now`.
    public func usage(of subnet: Subnet, now: Date, in tx: Transaction) async throws -> Usage {
        guard let addressing = SubnetAddressing(cidrBlock: subnet.cidrBlock, gateway: subnet.gateway) else {
            return Usage(totalAddresses: "0", freeAddresses: "0", allocated: 0, reserved: 0, frozen: 0)
        }
        var counts: [IpAddressStatus: Int] = [:]
        var holds: [AddressHold] = []
        for row in try await addresses.holding(subnetId: subnet.id, in: tx) {
            let state = IpAddressLifecycle(status: row.status, leaseExpiresAt: row.leaseExpiresAt).at(now, coolDown: coolDown)
            guard state.status != .available, let ip = IPAddress(row.ipAddress) else { continue }
            counts[state.status, default: 0] += max(row.rangeSize, 1)
            holds.append(AddressHold(start: ip.numericValue, count: UInt128(max(row.rangeSize, 1))))
        }
        let total = addressing.usableCount
        let held = AddressAllocator.heldCount(in: addressing, holds: holds)
        return Usage(totalAddresses: String(total), freeAddresses: String(total - min(held, total)),
                     allocated: counts[.allocated] ?? 0, reserved: counts[.reserved] ?? 0, frozen: counts[.frozen] ?? 0)
    }

    /// Writes the subnet's usage into its pool's `ipPoolConfig` (with the subnet's CIDR and gateway).
    func refreshPool(_ subnet: Subnet, now: Date, in tx: Transaction) async throws {
        guard let poolId = subnet.ipPoolId, var pool = try await networks.pool(poolId, in: tx) else { return }
        let usage = try await self.usage(of: subnet, now: now, in: tx)
        pool.ipPoolConfig = try JSONValue(encoding: IpPoolConfig(cidrBlock: subnet.cidrBlock, gateway: subnet.gateway, usage: usage))
        pool.updatedAt = now
        try await networks.update(pool, in: tx)
    }

    /// Moves rows whose lease or freeze has run out (a lapsed lease to FROZEN, a finished freeze to
    /// AVAILABLE), at most `limit` per call; how many moved. Allocation never waits for this: it already
    /// treats such rows as free. A row changed since it was read is left alone.
    @discardableResult
    public func sweep(now: Date, limit: Int = 500) async throws -> Int {
        var moved = 0
        var touched: Set<UUID> = []
        for row in try await addresses.due(now: now, limit: limit) {
            let next = IpAddressLifecycle(status: row.status, leaseExpiresAt: row.leaseExpiresAt).at(now, coolDown: coolDown)
            guard next.status != row.status || next.leaseExpiresAt != row.leaseExpiresAt else { continue }
            if try await addresses.transition(row.id, from: row.status, to: next, now: now) {
                moved += 1
                touched.insert(row.subnetId)
            }
        }
        let service = self
        for subnetId in touched {
            try await transactions.run { tx in
                if let subnet = try await service.networks.lockSubnet(subnetId, in: tx) { try await service.refreshPool(subnet, now: now, in: tx) }
            }
        }
        if moved > 0 { logger.debug("ip address sweep", metadata: ["moved": "\(moved)"]) }
        return moved
    }
}

/// What an IP_ADDRESS pool's `ipPoolConfig` holds: its subnet's block and gateway and how its addresses stand.
public struct IpPoolConfig: Codable, Sendable, Hashable {
    public var cidrBlock: String
    public var gateway: String?
    public var totalAddresses: String
    public var freeAddresses: String
    public var allocated: Int
    public var reserved: Int
    public var frozen: Int

    init(cidrBlock: String, gateway: String?, usage: IpamService.Usage) {
        self.cidrBlock = cidrBlock
        self.gateway = gateway
        totalAddresses = usage.totalAddresses
        freeAddresses = usage.freeAddresses
        allocated = usage.allocated
        reserved = usage.reserved
        frozen = usage.frozen
    }
}

extension IpamService {
    /// What `PATCH /ip-addresses/{id}` may change on a held address.
    public struct Change: Sendable {
        public var status: IpAddressStatus?
        public var leaseExpiresAt: Date??
        public var macAddress: String??
        public var tags: JSONValue??

        public init(status: IpAddressStatus? = nil, leaseExpiresAt: Date?? = nil, macAddress: String?? = nil, tags: JSONValue?? = nil) {
            self.status = status
            self.leaseExpiresAt = leaseExpiresAt
            self.macAddress = macAddress
            self.tags = tags
        }
    }

    /// Changes a held (ALLOCATED or RESERVED) address: its status between those two, its lease, MAC and tags.
    /// 409 for an address that is not held or is an instance's (its NIC is the instance's to change).
    public func update(_ id: UUID, _ change: Change, now: Date) async throws -> IpAddress {
        let service = self
        return try await transactions.run { tx in
            guard let found = try await service.addresses.find(id, in: tx),
                  let subnet = try await service.networks.lockSubnet(found.subnetId, in: tx),
                  var row = try await service.addresses.find(id, in: tx) else { throw DomainError.notFound("IP address") }
            let state = IpAddressLifecycle(status: row.status, leaseExpiresAt: row.leaseExpiresAt).at(now, coolDown: service.coolDown)
            guard state.status == .allocated || state.status == .reserved else {
                let after = state.status == .frozen ? state.leaseExpiresAt.map { " after its cool-down ends at \(ZedgeJSON.formatDate($0))" } ?? "" : ""
                throw DomainError.conflict(
                    "\(row.ipAddress) is \(state.status.rawValue): only ALLOCATED or RESERVED addresses change; allocate it again\(after) instead.")
            }
            if row.instanceId != nil, change.status != nil || change.macAddress != nil || change.leaseExpiresAt != nil {
                throw DomainError.conflict("\(row.ipAddress) is an instance's address: its status, lease and MAC follow the instance.")
            }
            if let status = change.status { row.status = status }
            if let lease = change.leaseExpiresAt { row.leaseExpiresAt = lease }
            if let mac = change.macAddress { row.macAddress = mac }
            if let tags = change.tags { row.tags = tags }
            row.updatedAt = now
            try await service.addresses.update(row, in: tx)
            try await service.refreshPool(subnet, now: now, in: tx)
            return row
        }
    }

    /// Releases an address by API (`DELETE /ip-addresses/{id}`): FROZEN for the cool-down. 409 for an
    /// instance's address (deleting the instance releases it). Releasing a released address changes nothing.
    public func release(_ id: UUID, now: Date) async throws -> IpAddress {
        let service = self
        return try await transactions.run { tx in
            guard let row = try await service.addresses.find(id, in: tx) else { throw DomainError.notFound("IP address") }
            if let instanceId = row.instanceId, row.status == .allocated {
                throw DomainError.conflict("\(row.ipAddress) is held by instance \(instanceId): deleting the instance releases it.")
            }
            guard let released = try await service.release(id, now: now, in: tx) else { throw DomainError.notFound("IP address") }
            return released
        }
    }

    /// Allocates in its own transaction (`POST /ip-addresses`).
    public func allocate(_ request: Allocation, now: Date) async throws -> IpAddress {
        let service = self
        return try await transactions.run { tx in try await service.allocate(request, now: now, in: tx) }
    }
}
