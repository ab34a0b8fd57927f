#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Field validators for request input. Each returns nil when the value is fine, or a `FieldError` whose
/// message says what is expected. They work on bytes/Unicode scalars, never on locale-dependent APIs, and
/// reject whitespace, control characters and non-ASCII look-alikes wherever an identifier is expected.
public enum Validate {
    // MARK: Combining

    /// The non-nil errors of `results`.
    public static func collect(_ results: FieldError?...) -> [FieldError] { results.compactMap { $0 } }

    /// Throws a `ValidationFailure` with every non-nil error of `results`.
    public static func all(_ results: FieldError?...) throws(ValidationFailure) {
        let errors = results.compactMap { $0 }
        if !errors.isEmpty { throw ValidationFailure(errors: errors) }
    }

    // MARK: Identifiers

    /// A resource name: 1...63 ASCII characters, starting with a letter or digit, then letters, digits, '.', '_', '-'.
    public static func name(_ value: String, field: String) -> FieldError? {
        let b = Array(value.utf8.prefix(64))
        if b.isEmpty { return FieldError(field: field, message: "must not be empty") }
        if value.utf8.count > 63 { return FieldError(field: field, message: "must be at most 63 characters") }
        if let e = whitespaceOrNonASCII(b, field: field) { return e }
        guard isAlnum(b[0]) else { return FieldError(field: field, message: "must start with a letter or digit") }
        guard b.allSatisfy({ isAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
            return FieldError(field: field, message: "may contain only letters, digits, '.', '_' and '-'")
        }
        return nil
    }

    /// A Linux network interface name (a bridge such as the agent's integration bridge): 1...15 of letters,
    /// digits, '-', '_', '.', and not "." or "..".
    public static func interfaceName(_ value: String, field: String) -> FieldError? {
        let b = Array(value.utf8.prefix(16))
        if b.isEmpty { return FieldError(field: field, message: "must not be empty") }
        if value.utf8.count > 15 { return FieldError(field: field, message: "must be at most 15 characters (a Linux interface name)") }
        guard b.allSatisfy({ isAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
            return FieldError(field: field, message: "may contain only letters, digits, '-', '_' and '.' (a Linux interface name)")
        }
        if value == "." || value == ".." { return FieldError(field: field, message: "must not be '.' or '..'") }
        return nil
    }

    /// A username: 3...64 characters, lowercase letters, digits, '.', '_', '-', starting with a letter.
    public static func username(_ value: String, field: String) -> FieldError? {
        let count = value.utf8.count
        if count == 0 { return FieldError(field: field, message: "must not be empty") }
        if count < 3 || count > 64 { return FieldError(field: field, message: "must be 3-64 characters") }
        let b = Array(value.utf8)
        if let e = whitespaceOrNonASCII(b, field: field) { return e }
        guard isLower(b[0]) else { return FieldError(field: field, message: "must start with a lowercase letter") }
        guard b.allSatisfy({ isLower($0) || isDigit($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
            return FieldError(field: field, message: "may contain only lowercase letters, digits, '.', '_' and '-'")
        }
        return nil
    }

    /// A DNS hostname (RFC 1123): labels of 1...63 letters, digits and '-' (not at either end), separated by '.',
    /// at most 253 characters, no trailing dot.
    public static func hostname(_ value: String, field: String) -> FieldError? {
        let count = value.utf8.count
        if count == 0 { return FieldError(field: field, message: "must not be empty") }
        if count > 253 { return FieldError(field: field, message: "must be at most 253 characters") }
        let b = Array(value.utf8)
        if let e = whitespaceOrNonASCII(b, field: field) { return e }
        for label in b.split(separator: 0x2E, omittingEmptySubsequences: false) {
            if let problem = labelProblem(label) {
                return FieldError(field: field, message: "must be a hostname (labels of letters, digits and '-' separated by '.'): " + problem)
            }
        }
        return nil
    }

    // MARK: Free text

    /// Free text shown to people: at most `maxLength` Unicode scalars, no control characters except newline
    /// and tab, no bidirectional-override characters (Trojan Source).
    public static func displayText(_ value: String, field: String, maxLength: Int = 1024) -> FieldError? {
        var n = 0
        for s in value.unicodeScalars {
            n += 1
            if n > maxLength { return FieldError(field: field, message: "must be at most \(maxLength) characters") }
            let v = s.value
            if (v < 0x20 && v != 0x0A && v != 0x09) || (0x7F...0x9F).contains(v) {
                return FieldError(field: field, message: "must not contain control characters (other than newline and tab)")
            }
            if (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F {
                return FieldError(field: field, message: "must not contain bidirectional control characters")
            }
        }
        return nil
    }

    /// A description field; same rules as `displayText`.
    public static func description(_ value: String, field: String, maxLength: Int = 1024) -> FieldError? {
        displayText(value, field: field, maxLength: maxLength)
    }

    // MARK: Accounts

    /// An email address: ASCII only, at most 254 characters, one '@'; the local part (1...64) of letters, digits
    /// and !#$%&*+/=?^_{|}~- with dots not leading, trailing or doubled (quotes, apostrophes and backticks are
    /// refused); the domain of at least two labels, the last all letters and at least 2 long.
    public static func email(_ value: String, field: String) -> FieldError? {
        let count = value.utf8.count
        if count == 0 { return FieldError(field: field, message: "must not be empty") }
        if count > 254 { return FieldError(field: field, message: "must be at most 254 characters") }
        let b = Array(value.utf8)
        if let e = whitespaceOrNonASCII(b, field: field) { return e }
        if b.contains(where: { $0 == 0x22 || $0 == 0x27 || $0 == 0x60 || $0 == 0x3C || $0 == 0x3E }) {
            return FieldError(field: field, message: "must not contain quotes or angle brackets")
        }
        let parts = b.split(separator: 0x40, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return FieldError(field: field, message: "must contain exactly one '@'") }
        let local = parts[0], domain = parts[1]
        if local.isEmpty { return FieldError(field: field, message: "must have a name before '@'") }
        if local.count > 64 { return FieldError(field: field, message: "the part before '@' must be at most 64 characters") }
        let atext = Set("!#$%&*+/=?^_{|}~-".utf8)
        guard local.allSatisfy({ isAlnum($0) || $0 == 0x2E || atext.contains($0) }) else {
            return FieldError(field: field, message: "the part before '@' contains a character that is not allowed")
        }
        if local.first == 0x2E || local.last == 0x2E || zip(local, local.dropFirst()).contains(where: { $0 == 0x2E && $1 == 0x2E }) {
            return FieldError(field: field, message: "the part before '@' must not start or end with '.' or contain '..'")
        }
        if domain.isEmpty { return FieldError(field: field, message: "must have a domain after '@', e.g. example.com") }
        let labels = domain.split(separator: 0x2E, omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return FieldError(field: field, message: "the domain must contain a dot, e.g. example.com") }
        for label in labels {
            if let problem = labelProblem(label) {
                return FieldError(field: field, message: "the domain is not valid: " + problem)
            }
        }
        let tld = labels.last!
        guard tld.count >= 2, tld.allSatisfy(isAlpha) else {
            return FieldError(field: field, message: "the domain must end in a top-level domain of at least 2 letters")
        }
        return nil
    }

    /// The most characters a password may have. The coordinator pre-hashes passwords before bcrypt, so bcrypt's
    /// 72-byte input limit does not apply.
    public static let passwordMaxLength = 128

    /// A password: 8...128 characters (Unicode code points, as JSON Schema's `maxLength` counts them), no NUL.
    public static func password(_ value: String, field: String) -> FieldError? {
        let count = value.unicodeScalars.count
        if count < 8 { return FieldError(field: field, message: "must be at least 8 characters") }
        if count > passwordMaxLength { return FieldError(field: field, message: "must be at most \(passwordMaxLength) characters") }
        if value.utf8.contains(0) { return FieldError(field: field, message: "must not contain NUL characters") }
        return nil
    }

    // MARK: Network

    public static func ipv4(_ value: String, field: String) -> FieldError? {
        parsed(field) { () throws(AddressParseError) in _ = try IPv4Address.parse(value) }
    }

    public static func ipv6(_ value: String, field: String) -> FieldError? {
        parsed(field) { () throws(AddressParseError) in _ = try IPv6Address.parse(value) }
    }

    /// An IPv4 or IPv6 address.
    public static func ipAddress(_ value: String, field: String) -> FieldError? {
        parsed(field) { () throws(AddressParseError) in _ = try IPAddress.parse(value) }
    }

    /// An IPv4 ("a.b.c.d/0-32") or IPv6 ("x::/0-128") CIDR block with no host bits set.
    public static func cidr(_ value: String, field: String) -> FieldError? {
        parsed(field) { () throws(AddressParseError) in _ = try CIDRBlock.parse(value) }
    }

    /// An IPv4 CIDR block with no host bits set.
    public static func ipv4CIDR(_ value: String, field: String) -> FieldError? {
        if value.utf8.contains(UInt8(ascii: ":")) {
            return FieldError(field: field, message: "must be an IPv4 CIDR block, e.g. 10.0.0.0/16")
        }
        return cidr(value, field: field)
    }

    /// A MAC address as six two-digit hex groups separated by ':' (case-insensitive).
    public static func macAddress(_ value: String, field: String) -> FieldError? {
        parsed(field) { () throws(AddressParseError) in _ = try MACAddress.parse(value) }
    }

    /// An 802.1Q VLAN id, 1...4094.
    public static func vlanId(_ value: Int, field: String) -> FieldError? {
        size(value, field: field, in: 1...4094)
    }

    // MARK: Numbers

    /// An integer within a closed range.
    public static func size(_ value: Int, field: String, in range: ClosedRange<Int>) -> FieldError? {
        range.contains(value) ? nil
            : FieldError(field: field, message: "must be between \(range.lowerBound) and \(range.upperBound)")
    }

    // MARK: Enums

    /// A raw value of a `ZedgeEnum`.
    public static func enumValue<E: ZedgeEnum>(_ value: String, as type: E.Type, field: String) -> FieldError? {
        E(rawValue: value) == nil ? FieldError(field: field, message: E.allowedValuesMessage) : nil
    }

    // MARK: Helpers

    private static func parsed(_ field: String, _ body: () throws(AddressParseError) -> Void) -> FieldError? {
        do {
            try body()
            return nil
        } catch {
            return FieldError(field: field, message: error.message)
        }
    }

    private static func whitespaceOrNonASCII(_ b: [UInt8], field: String) -> FieldError? {
        if b.contains(where: { $0 >= 0x80 }) {
            return FieldError(field: field, message: "must contain only ASCII characters")
        }
        if b.first == 0x20 || b.last == 0x20 || b.first == 0x09 || b.last == 0x09 {
            return FieldError(field: field, message: "must not have leading or trailing whitespace")
        }
        if b.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return FieldError(field: field, message: "must not contain control characters")
        }
        if b.contains(0x20) { return FieldError(field: field, message: "must not contain spaces") }
        return nil
    }

    /// Why a DNS label is not valid, or nil.
    private static func labelProblem(_ label: ArraySlice<UInt8>) -> String? {
        if label.isEmpty { return "empty label (leading, trailing or doubled '.')" }
        if label.count > 63 { return "a label is longer than 63 characters" }
        if !label.allSatisfy({ isAlnum($0) || $0 == 0x2D }) { return "a label contains a character other than letters, digits and '-'" }
        if label.first == 0x2D || label.last == 0x2D { return "a label starts or ends with '-'" }
        return nil
    }

    @inline(__always) private static func isLower(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7A }
    @inline(__always) private static func isAlpha(_ c: UInt8) -> Bool { isLower(c) || (c >= 0x41 && c <= 0x5A) }
    @inline(__always) private static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }
}
