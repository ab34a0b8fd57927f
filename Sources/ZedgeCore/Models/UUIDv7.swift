#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension UUID {
    /// A new RFC 9562 version 7 UUID: 48-bit Unix timestamp in milliseconds, version 7, RFC variant, 74 random
    /// bits. IDs made in later milliseconds sort later (bytes or lowercased string), which keeps B-tree indexes local.
    public static func v7(now: Date = Date()) -> UUID {
        var rng = SystemRandomNumberGenerator()
        return v7(now: now, using: &rng)
    }

    /// As `v7(now:)`, with a caller-supplied random source (for deterministic tests).
    public static func v7<R: RandomNumberGenerator>(now: Date, using rng: inout R) -> UUID {
        // Round to whole microseconds first so that floating-point noise (x.0009999…) cannot pull a time
        // back into the previous millisecond, then truncate to milliseconds.
        let micros = (now.timeIntervalSince1970 * 1_000_000).rounded()
        let ms: UInt64 = micros <= 0 ? 0 : min(UInt64(min(micros, 9e18)) / 1000, (1 << 48) - 1)
        let r1 = rng.next() as UInt64
        let r2 = rng.next() as UInt64
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: ms >> (8 * (5 - i))) }
        for i in 6..<8 { b[i] = UInt8(truncatingIfNeeded: r1 >> (8 * i)) }
        for i in 8..<16 { b[i] = UInt8(truncatingIfNeeded: r2 >> (8 * (i - 8))) }
        b[6] = 0x70 | (b[6] & 0x0F)  // version 7
        b[8] = 0x80 | (b[8] & 0x3F)  // variant 10xx
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    /// The version nibble (7 for `v7()`, 4 for `UUID()`).
    public var version: Int { Int(uuid.6 >> 4) }

    /// For a version 7 UUID, the millisecond timestamp it carries; otherwise nil.
    public var v7Date: Date? {
        guard version == 7 else { return nil }
        let u = uuid
        let ms = [u.0, u.1, u.2, u.3, u.4, u.5].reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }
}
