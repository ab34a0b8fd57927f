#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Addresses held in a subnet: one row of `IpAddress`, which holds `count` consecutive addresses from
/// `start` (a range when `isRangeStart`, else one address).
public struct AddressHold: Sendable, Hashable {
    public var start: UInt128
    public var count: UInt128

    public init(start: UInt128, count: UInt128 = 1) {
        self.start = start
        self.count = max(count, 1)
    }

    /// The last address held (saturating at the top of the address space).
    public var end: UInt128 { start.addingReportingOverflow(count - 1).overflow ? .max : start + (count - 1) }
}

/// Exact IPAM over one subnet, with no I/O: given what is held, the lowest free run of addresses, or whether
/// a requested one is free. Only held addresses are listed, so an IPv6 /64 costs what its holds cost, never
/// 2^64 rows (the design of Neutron's "IP availability ranges", without storing the free ranges).
public enum AddressAllocator {
    /// Why an allocation cannot be made.
    public enum Refusal: Error, Sendable, Hashable {
        /// The requested address can never be handed out from this subnet (outside it, its network or
        /// broadcast address, its gateway); the message says which. A 400.
        case unusable(String)
        /// The requested address (or one of its range) is held. A 409.
        case taken(IPAddress)
        /// No run of `count` free addresses is left. A 409.
        case exhausted
    }

    /// The lowest `count` consecutive free addresses of the subnet, or the ones from `requested`.
    ///
    /// `holds` may be in any order and may overlap. The gateway is treated as held.
    public static func allocate(
        in subnet: SubnetAddressing, holds: [AddressHold], requested: IPAddress? = nil, count: Int = 1
    ) -> Result<IPAddress, Refusal> {
        let n = UInt128(max(count, 1))
        var all = holds
        if let gateway = subnet.gateway, subnet.block.contains(gateway) { all.append(AddressHold(start: gateway.numericValue)) }
        let sorted = all.sorted { $0.start < $1.start }
        let bounds = subnet.usableBounds

        if let requested {
            if let why = subnet.unusable(requested) { return .failure(.unusable(why)) }
            let start = requested.numericValue
            let (end, overflow) = start.addingReportingOverflow(n - 1)
            guard !overflow, end <= bounds.upperBound else {
                return .failure(.unusable("leaves no room for \(count) addresses before the end of \(subnet.block)"))
            }
            for hold in sorted where hold.start <= end && hold.end >= start {
                let first = max(hold.start, start)
                if subnet.gateway?.numericValue == first, n > 1 {
                    return .failure(.unusable("the range would include the subnet's gateway"))
                }
                return .failure(.taken(subnet.address(first)))
            }
            return .success(requested)
        }

        var candidate = bounds.lowerBound
        for hold in sorted {
            let (end, overflow) = candidate.addingReportingOverflow(n - 1)
            if overflow || end > bounds.upperBound { return .failure(.exhausted) }
            if end < hold.start { return .success(subnet.address(candidate)) }
            if hold.end >= candidate {
                if hold.end == .max { return .failure(.exhausted) }
                candidate = hold.end + 1
            }
        }
        let (end, overflow) = candidate.addingReportingOverflow(n - 1)
        if overflow || candidate > bounds.upperBound || end > bounds.upperBound { return .failure(.exhausted) }
        return .success(subnet.address(candidate))
    }

    /// How many usable addresses `holds` cover (each counted once, clipped to the usable bounds, the gateway
    /// not counted): the subnet's free count is `usableCount - heldCount`.
    public static func heldCount(in subnet: SubnetAddressing, holds: [AddressHold]) -> UInt128 {
        let bounds = subnet.usableBounds
        var total: UInt128 = 0
        var covered: UInt128? = nil  // the last address counted so far
        for hold in holds.sorted(by: { $0.start < $1.start }) {
            var start = max(hold.start, bounds.lowerBound)
            let end = min(hold.end, bounds.upperBound)
            if let covered { if covered >= end { continue }; start = max(start, covered + 1) }
            guard start <= end else { continue }
            total += end - start + 1
            if let gw = subnet.gateway?.numericValue, (start...end).contains(gw) { total -= 1 }
            covered = end
        }
        return total
    }
}
