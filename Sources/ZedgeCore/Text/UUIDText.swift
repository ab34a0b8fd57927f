#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A UUID's canonical text (RFC 9562 §4: 36 characters, hex digits in groups of 8-4-4-4-12 separated by hyphens), read and
/// written without Foundation's C formatting.
///
/// Why: every UUID column of every row the coordinator reads or writes goes through text, ~110 a create. Foundation
/// reads one with `sscanf` (494 ns) and writes one with `snprintf`: together 1.7 % of the coordinator's CPU under
/// creates (issue #14). What these accept and produce is what Foundation's `UUID(uuidString:)` and `uuidString` do for
/// canonical text: either case in, upper case out.
public enum UUIDText {
    /// The UUID `text` spells (either case); nil for anything that is not exactly the canonical form.
    public static func parse(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// As `parse(_:)`, from UTF-8 bytes.
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard bytes.count == 36, bytes[8] == hyphen, bytes[13] == hyphen, bytes[18] == hyphen, bytes[23] == hyphen else {
            return nil
        }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &value) { out -> Bool in
            var at = 0
            for byte in 0..<16 {
                if at == 8 || at == 13 || at == 18 || at == 23 { at += 1 }
                guard let high = nibble(bytes[at]), let low = nibble(bytes[at + 1]) else { return false }
                out[byte] = high << 4 | low
                at += 2
            }
            return true
        }
        return parsed ? UUID(uuid: value) : nil
    }

    /// `uuid`'s canonical text in upper case, as `UUID.uuidString` writes it.
    public static func text(_ uuid: UUID) -> String {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[at] = hyphen
                        at += 1
                    }
                    out[at] = digits[Int(byte >> 4)]
                    out[at + 1] = digits[Int(byte & 0x0F)]
                    at += 2
                }
                return 36
            }
        }
    }

    private static let hyphen = UInt8(ascii: "-")
    private static let digits: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
