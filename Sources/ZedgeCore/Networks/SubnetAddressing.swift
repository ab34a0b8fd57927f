#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which addresses of a subnet IPAM may hand out: the block less the addresses the network itself uses.
///
/// - IPv4 (RFC 791/919): prefix ≤ 30 leaves out the network and broadcast addresses; a /31 is a point-to-point
///   link with both usable (RFC 3021); a /32 is its one address.
/// - IPv6: prefix ≤ 126 leaves out the Subnet-Router anycast address, the all-zeros host (RFC 4291 §2.6.1);
///   a /127 has both usable (RFC 6164); a /128 is its one address. There is no broadcast address.
/// - The gateway, when set, is never handed out.
public struct SubnetAddressing: Sendable, Hashable {
    public let block: CIDRBlock
    public let gateway: IPAddress?

    public init(block: CIDRBlock, gateway: IPAddress? = nil) {
        self.block = block
        self.gateway = gateway
    }

    /// Parses a subnet's stored `cidrBlock` and `gateway`; nil when either does not parse.
    public init?(cidrBlock: String, gateway: String?) {
        guard let block = CIDRBlock(cidrBlock) else { return nil }
        var gw: IPAddress? = nil
        if let gateway {
            guard let parsed = IPAddress(gateway) else { return nil }
            gw = parsed
        }
        self.init(block: block, gateway: gw)
    }

    /// The first and last address IPAM may hand out, as numbers.
    public var usableBounds: ClosedRange<UInt128> {
        let first = block.networkValue
        let last = block.lastAddress.numericValue
        switch (block.family, block.prefixLength) {
        case (.v4, ...30): return (first + 1)...(last - 1)
        case (.v6, ...126): return (first + 1)...last
        default: return first...last
        }
    }

    /// How many addresses the subnet can hand out (the gateway left out); saturates at `UInt128.max`.
    public var usableCount: UInt128 {
        let bounds = usableBounds
        let span = bounds.upperBound - bounds.lowerBound
        let count = span == .max ? UInt128.max : span + 1
        if let gateway, bounds.contains(gateway.numericValue), block.contains(gateway) { return count - 1 }
        return count
    }

    /// Why `address` can never be handed out from this subnet, or nil when it can (whether it is free is
    /// another question, see `AddressAllocator`).
    public func unusable(_ address: IPAddress) -> String? {
        guard block.contains(address) else { return "must lie inside the subnet \(block)" }
        let value = address.numericValue
        if !usableBounds.contains(value) {
            if value == block.networkValue {
                return block.family == .v4 ? "is the network address of \(block)" : "is the Subnet-Router anycast address of \(block)"
            }
            return "is the broadcast address of \(block)"
        }
        if address == gateway { return "is the subnet's gateway" }
        return nil
    }

    /// Why `gateway` cannot be this subnet's gateway, or nil: it lies inside the block and is neither its
    /// network nor (IPv4) broadcast address.
    public static func gatewayProblem(_ gateway: IPAddress, in block: CIDRBlock) -> String? {
        SubnetAddressing(block: block).unusable(gateway)
    }

    /// The address `value` as text in this subnet's family.
    public func address(_ value: UInt128) -> IPAddress { IPAddress(family: block.family, numericValue: value) }
}
