#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An IPv4 address, parsed strictly from dotted-quad text (four decimal numbers 0-255, no leading zeros).
public struct IPv4Address: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// The address as a big-endian 32-bit number (`10.0.0.1` is `0x0A000001`).
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text; nil if it is not exactly that.
    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    static let expected = "must be an IPv4 address: four numbers 0-255 separated by dots, e.g. 192.0.2.10"

    /// Parses dotted-quad text, saying what is wrong if it is not.
    public static func parse(_ text: String) throws(AddressParseError) -> IPv4Address {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw AddressParseError("must not be empty") }
        guard bytes.count <= 15 else { throw AddressParseError(expected) }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { throw AddressParseError(expected) }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(isDigit) else { throw AddressParseError(expected) }
            if part.count > 1 && part.first == UInt8(ascii: "0") {
                throw AddressParseError("must not have leading zeros in a number (e.g. 01), which some tools read as octal")
            }
            let n = part.reduce(UInt32(0)) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard n <= 255 else { throw AddressParseError("each number of an IPv4 address must be 0-255") }
            value = value << 8 | n
        }
        return IPv4Address(value)
    }

    public var octets: [UInt8] { [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                                  UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)] }

    public var description: String { octets.map(String.init).joined(separator: ".") }

    public static func < (l: Self, r: Self) -> Bool { l.value < r.value }

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

/// An IPv6 address (RFC 4291 text, with `::` compression and an optional trailing dotted IPv4 part);
/// zone ids (`%eth0`) are rejected. `description` is the RFC 5952 canonical form.
public struct IPv6Address: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// The address as a big-endian 128-bit number.
    public var value: UInt128

    public init(_ value: UInt128) { self.value = value }

    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    static let expected = "must be an IPv6 address, e.g. 2001:db8::1"

    public static func parse(_ text: String) throws(AddressParseError) -> IPv6Address {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw AddressParseError("must not be empty") }
        if bytes.contains(UInt8(ascii: "%")) { throw AddressParseError("must not carry a zone id (%…)") }
        guard bytes.count <= 45 else { throw AddressParseError(expected) }
        guard bytes.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
            throw AddressParseError(expected)
        }
        let colon = UInt8(ascii: ":")
        // Locate "::" (at most once, and never ":::").
        var doubleAt: Int? = nil
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == colon && bytes[i + 1] == colon {
                if doubleAt != nil || (i + 2 < bytes.count && bytes[i + 2] == colon) {
                    throw AddressParseError("'::' may appear only once in an IPv6 address")
                }
                doubleAt = i
                i += 2
            } else {
                i += 1
            }
        }
        func groups(_ s: ArraySlice<UInt8>, allowIPv4Tail: Bool) throws(AddressParseError) -> [UInt16] {
            if s.isEmpty { return [] }
            let parts = s.split(separator: colon, omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (k, p) in parts.enumerated() {
                if p.contains(UInt8(ascii: ".")) {
                    guard allowIPv4Tail, k == parts.count - 1, let v4 = IPv4Address(String(decoding: p, as: UTF8.self)) else {
                        throw AddressParseError(expected)
                    }
                    out.append(UInt16(v4.value >> 16))
                    out.append(UInt16(truncatingIfNeeded: v4.value))
                } else {
                    guard (1...4).contains(p.count) else { throw AddressParseError(expected) }
                    out.append(p.reduce(UInt16(0)) { $0 << 4 | UInt16(hexValue($1)) })
                }
            }
            return out
        }
        var words: [UInt16]
        if let d = doubleAt {
            let head = try groups(bytes[..<d], allowIPv4Tail: false)
            let tail = try groups(bytes[(d + 2)...], allowIPv4Tail: true)
            guard head.count + tail.count <= 7 else { throw AddressParseError(expected) }
            words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            words = try groups(bytes[...], allowIPv4Tail: true)
            guard words.count == 8 else { throw AddressParseError(expected) }
        }
        return IPv6Address(words.reduce(UInt128(0)) { $0 << 16 | UInt128($1) })
    }

    /// The eight 16-bit groups.
    public var words: [UInt16] { (0..<8).map { UInt16(truncatingIfNeeded: value >> (16 * (7 - $0))) } }

    /// RFC 5952: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as `::`,
    /// IPv4-mapped addresses as `::ffff:a.b.c.d`.
    public var description: String {
        let w = words
        if value >> 32 == 0xFFFF {
            return "::ffff:" + IPv4Address(UInt32(truncatingIfNeeded: value)).description
        }
        var bestStart = -1, bestLen = 0, runStart = -1
        for k in 0...8 {
            if k < 8 && w[k] == 0 {
                if runStart < 0 { runStart = k }
            } else if runStart >= 0 {
                if k - runStart > bestLen { bestStart = runStart; bestLen = k - runStart }
                runStart = -1
            }
        }
        let hex = w.map { String($0, radix: 16) }
        guard bestLen >= 2 else { return hex.joined(separator: ":") }
        return hex[..<bestStart].joined(separator: ":") + "::" + hex[(bestStart + bestLen)...].joined(separator: ":")
    }

    public static func < (l: Self, r: Self) -> Bool { l.value < r.value }

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

/// An IPv4 or IPv6 address.
public enum IPAddress: Sendable, Hashable, Codable, CustomStringConvertible, LosslessStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Address family.
    public enum Family: Sendable, Hashable {
        case v4, v6
        /// 32 or 128.
        public var bitWidth: Int { self == .v4 ? 32 : 128 }
    }

    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    /// Parses IPv6 text if it contains ':', else IPv4 text.
    public static func parse(_ text: String) throws(AddressParseError) -> IPAddress {
        if text.utf8.contains(UInt8(ascii: ":")) { return .v6(try IPv6Address.parse(text)) }
        return .v4(try IPv4Address.parse(text))
    }

    public var family: Family {
        switch self { case .v4: .v4; case .v6: .v6 }
    }

    /// The address as a number (IPv4 in the low 32 bits).
    public var numericValue: UInt128 {
        switch self { case .v4(let a): UInt128(a.value); case .v6(let a): a.value }
    }

    init(family: Family, numericValue: UInt128) {
        switch family {
        case .v4: self = .v4(IPv4Address(UInt32(truncatingIfNeeded: numericValue)))
        case .v6: self = .v6(IPv6Address(numericValue))
        }
    }

    public var description: String {
        switch self { case .v4(let a): a.description; case .v6(let a): a.description }
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

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
@inline(__always) func isHexDigit(_ b: UInt8) -> Bool {
    isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
}
@inline(__always) func hexValue(_ b: UInt8) -> UInt8 {
    isDigit(b) ? b - 0x30 : (b | 0x20) - 0x61 + 10
}
