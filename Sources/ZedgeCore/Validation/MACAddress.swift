#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A 48-bit MAC address in the one text form Zedge accepts: six two-digit hex groups separated by ':'
/// (case-insensitive on input, lowercase on output), e.g. "52:54:00:12:34:56".
public struct MACAddress: Sendable, Hashable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// The six bytes, most significant first.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    static let expected = "must be six two-digit hex groups separated by ':', e.g. 52:54:00:12:34:56"

    public static func parse(_ text: String) throws(AddressParseError) -> MACAddress {
        let b = Array(text.utf8)
        if b.isEmpty { throw AddressParseError("must not be empty") }
        if b.count == 17 && b.contains(UInt8(ascii: "-")) && !b.contains(UInt8(ascii: ":")) {
            throw AddressParseError("must use ':' separators, not '-': e.g. 52:54:00:12:34:56")
        }
        guard b.count == 17 else { throw AddressParseError(expected) }
        var out: [UInt8] = []
        for g in 0..<6 {
            let hi = b[g * 3], lo = b[g * 3 + 1]
            guard isHexDigit(hi), isHexDigit(lo) else { throw AddressParseError(expected) }
            if g < 5 && b[g * 3 + 2] != UInt8(ascii: ":") { throw AddressParseError(expected) }
            out.append(hexValue(hi) << 4 | hexValue(lo))
        }
        return MACAddress(bytes: out)!
    }

    /// A random unicast address under `oui` (default 52:54:00, the range QEMU/KVM uses).
    public static func random(oui: (UInt8, UInt8, UInt8) = (0x52, 0x54, 0x00)) -> MACAddress {
        var rng = SystemRandomNumberGenerator()
        return random(oui: oui, using: &rng)
    }

    public static func random<R: RandomNumberGenerator>(oui: (UInt8, UInt8, UInt8), using rng: inout R) -> MACAddress {
        MACAddress(bytes: [oui.0 & 0xFE, oui.1, oui.2, UInt8.random(in: 0...255, using: &rng),
                           UInt8.random(in: 0...255, using: &rng), UInt8.random(in: 0...255, using: &rng)])!
    }

    /// The group bit (bit 0 of the first byte).
    public var isMulticast: Bool { bytes[0] & 1 == 1 }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }

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
