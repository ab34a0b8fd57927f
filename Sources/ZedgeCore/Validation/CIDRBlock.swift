#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An IPv4 or IPv6 network in CIDR notation ("10.0.0.0/16", "2001:db8::/32").
///
/// Parsing is strict by default: host bits must be zero ("10.0.0.1/8" is refused with a hint at
/// "10.0.0.0/8"). Used for Vpc/Subnet `cidrBlock` checks (containment, overlap) and IP pool allocation.
public struct CIDRBlock: Sendable, Hashable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public let family: IPAddress.Family
    /// The network address as a number (IPv4 in the low 32 bits).
    public let networkValue: UInt128
    /// 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int

    /// A block from an address and prefix length; host bits are cleared.
    public init(address: IPAddress, prefixLength: Int) throws(AddressParseError) {
        let width = address.family.bitWidth
        guard (0...width).contains(prefixLength) else {
            throw AddressParseError("prefix length must be 0-\(width)")
        }
        family = address.family
        self.prefixLength = prefixLength
        networkValue = address.numericValue & Self.mask(prefixLength, width: width)
    }

    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    /// Parses "address/prefix". With `allowHostBits` false (the default) an address with host bits set is an
    /// error that names the network meant; with true the host bits are cleared.
    public static func parse(_ text: String, allowHostBits: Bool = false) throws(AddressParseError) -> CIDRBlock {
        if text.isEmpty { throw AddressParseError("must not be empty") }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw AddressParseError("must be in CIDR notation (address/prefix), e.g. 10.0.0.0/16")
        }
        let address = try IPAddress.parse(String(parts[0]))
        let width = address.family.bitWidth
        let p = Array(parts[1].utf8)
        guard !p.isEmpty, p.count <= 3, p.allSatisfy(isDigit), !(p.count > 1 && p[0] == UInt8(ascii: "0")) else {
            throw AddressParseError("prefix length must be a number 0-\(width)")
        }
        let prefix = p.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let block = try CIDRBlock(address: address, prefixLength: prefix)
        if !allowHostBits && block.networkValue != address.numericValue {
            throw AddressParseError("host bits set, did you mean \(block)")
        }
        return block
    }

    static func mask(_ prefix: Int, width: Int) -> UInt128 {
        let all: UInt128 = width == 128 ? .max : (UInt128(1) << width) - 1
        if prefix == 0 { return 0 }
        return (all >> (width - prefix)) << (width - prefix) & all
    }

    private var width: Int { family.bitWidth }
    private var hostMask: UInt128 { Self.mask(width, width: width) & ~Self.mask(prefixLength, width: width) }

    /// The network (first) address.
    public var networkAddress: IPAddress { IPAddress(family: family, numericValue: networkValue) }
    /// The last address (the broadcast address for IPv4).
    public var lastAddress: IPAddress { IPAddress(family: family, numericValue: networkValue | hostMask) }
    /// The netmask, e.g. 255.255.0.0 for a /16.
    public var netmask: IPAddress { IPAddress(family: family, numericValue: Self.mask(prefixLength, width: width)) }
    /// The network address if this is an IPv4 block.
    public var ipv4Network: IPv4Address? {
        if case .v4(let a) = networkAddress { a } else { nil }
    }

    /// How many addresses the block spans (saturates at `UInt128.max` for `::/0`).
    public var numberOfAddresses: UInt128 {
        let bits = width - prefixLength
        return bits >= 128 ? .max : UInt128(1) << bits
    }

    /// The address `offset` places after the network address, or nil if outside the block.
    public func address(at offset: UInt128) -> IPAddress? {
        guard offset <= hostMask else { return nil }
        return IPAddress(family: family, numericValue: networkValue + offset)
    }

    public func contains(_ ip: IPAddress) -> Bool {
        ip.family == family && ip.numericValue & Self.mask(prefixLength, width: width) == networkValue
    }

    public func contains(_ ip: IPv4Address) -> Bool { contains(.v4(ip)) }

    /// True if every address of `other` is in this block.
    public func contains(_ other: CIDRBlock) -> Bool {
        other.family == family && other.prefixLength >= prefixLength && contains(other.networkAddress)
    }

    /// True if the two blocks share at least one address.
    public func overlaps(_ other: CIDRBlock) -> Bool {
        contains(other) || other.contains(self)
    }

    public var description: String { "\(networkAddress)/\(prefixLength)" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        do { self = try Self.parse(try c.decode(String.self)) } catch let e as AddressParseError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: e.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
