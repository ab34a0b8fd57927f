/// Lowercase hexadecimal text of bytes, as `sha256sum` prints a digest (no `String(format:)`, which is not in
/// FoundationEssentials).
public enum Hex {
    /// Two lowercase digits per byte, no separator: `[0x0f, 0xa0]` → `"0fa0"`.
    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
