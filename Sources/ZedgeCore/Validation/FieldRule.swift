#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One rule on one request field, declared once: `check` is what the server applies, `keywords` the JSON Schema
/// keywords (draft 2020-12, the dialect of OpenAPI 3.1) that state the same rule in the API document. A body
/// declares its rules in `FieldRuleDeclaring.fieldRules`; the body decoder applies them and the OpenAPI document
/// merges their keywords into the field's schema, so the document and the server cannot disagree about a rule.
///
/// String lengths are counted in Unicode code points, as JSON Schema counts them (§6.3.1 of the validation
/// vocabulary). A `null` (an optional field left empty) is never checked: the type says whether null is allowed.
public struct FieldRule: Sendable {
    /// JSON Schema keywords merged into the property's schema (`minLength`, `maxLength`, `pattern`, `format`,
    /// `minimum`, `maximum`, `maxItems`, `maxProperties`, …).
    public let keywords: [String: JSONValue]
    private let checker: @Sendable (JSONValue, String) -> FieldError?
    /// A rule on a container's size: its check of an array (`true`) or object (`false`) of that many entries.
    private let sizeChecker: (@Sendable (_ isArray: Bool, _ count: Int, _ field: String) -> FieldError?)?

    public init(keywords: [String: JSONValue], check: @escaping @Sendable (JSONValue, String) -> FieldError?) {
        self.keywords = keywords
        self.checker = check
        self.sizeChecker = nil
    }

    /// A rule on the number of an array's items or an object's members: it needs a container's size only, so it can
    /// be checked on a value the scanner did not build (`StrictJSONScanner.Captured`).
    init(keywords: [String: JSONValue], size: @escaping @Sendable (_ isArray: Bool, _ count: Int, _ field: String) -> FieldError?) {
        self.keywords = keywords
        self.checker = { value, field in
            switch value {
            case .array(let items): size(true, items.count, field)
            case .object(let members): size(false, members.count, field)
            default: nil
            }
        }
        self.sizeChecker = size
    }


    /// A rule on a string value; a value of another type is left to the decoder's type check.
    public static func string(_ keywords: [String: JSONValue], _ check: @escaping @Sendable (String, String) -> FieldError?) -> FieldRule {
        FieldRule(keywords: keywords) { value, field in
            guard case .string(let string) = value else { return nil }
            return check(string, field)
        }
    }

    /// The error for `value` at `field` (a path such as `networks[1].ipAddress`), or nil when the rule holds.
    public func check(_ value: JSONValue, field: String) -> FieldError? {
        if case .null = value { return nil }
        return checker(value, field)
    }

    /// The error for a value as the body's scan captured it (`StrictJSONScanner.scanShape(_:guide:)`), or nil: the same
    /// answer as `check(_:field:)` on the whole value, since a rule on a container asks only for its size.
    public func check(_ captured: StrictJSONScanner.Captured, field: String) -> FieldError? {
        switch captured {
        case .scalar(let value): check(value, field: field)
        case .array(let count): sizeChecker?(true, count, field)
        case .object(let count): sizeChecker?(false, count, field)
        }
    }
}

/// A type whose JSON fields carry `FieldRule`s: request bodies, and the nested objects they contain.
public protocol FieldRuleDeclaring {
    /// Rules by JSON property name. `name[]` applies the rule to each item of the array `name`.
    static var fieldRules: [String: FieldRule] { get }
}

extension FieldRule {
    // MARK: Identifiers

    /// `Validate.name`: 1…63 of letters, digits, '.', '_', '-', starting with a letter or digit.
    public static let name = FieldRule.string(
        ["minLength": 1, "maxLength": 63, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"], Validate.name)

    /// `Validate.username`: 3…64 lowercase letters, digits, '.', '_', '-', starting with a letter.
    public static let username = FieldRule.string(
        ["minLength": 3, "maxLength": 64, "pattern": "^[a-z][a-z0-9._-]*$"], Validate.username)

    /// `Validate.hostname`: an RFC 1123 host name of at most 253 characters.
    public static let hostname = FieldRule.string(
        ["minLength": 1, "maxLength": 253,
         "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"],
        Validate.hostname)

    /// `Validate.interfaceName`: a Linux interface name, 1…15 of letters, digits, '-', '_', '.', not "." or "..".
    public static let interfaceName = FieldRule.string(
        ["minLength": 1, "maxLength": 15, "pattern": "^(?!\\.\\.?$)[A-Za-z0-9._-]+$"], Validate.interfaceName)

    // MARK: Accounts

    /// `Validate.email`: the address forms the server accepts (no quoted local parts, a top-level domain of letters).
    public static let email = FieldRule.string(
        ["format": "email", "maxLength": 254,
         "pattern": "^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&*+/=?^_{|}~-]+(\\.[A-Za-z0-9!#$%&*+/=?^_{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}$"],
        Validate.email)

    /// `Validate.password`: 8…128 characters, no NUL.
    public static let password = FieldRule.string(
        ["minLength": 8, "maxLength": .number(Double(Validate.passwordMaxLength)), "pattern": "^[^\\u0000]*$"], Validate.password)

    // MARK: Free text

    /// `Validate.displayText`: at most `maxLength` characters (at least `minLength`), no control characters other
    /// than newline and tab, no bidirectional controls.
    public static func displayText(maxLength: Int, minLength: Int = 0) -> FieldRule {
        var keywords: [String: JSONValue] = ["maxLength": .number(Double(maxLength)), "pattern": .string(displayTextPattern)]
        if minLength > 0 { keywords["minLength"] = .number(Double(minLength)) }
        return .string(keywords) { value, field in
            if value.unicodeScalars.count < minLength {
                return FieldError(field: field, message: minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters")
            }
            return Validate.displayText(value, field: field, maxLength: maxLength)
        }
    }

    /// Any string of `range` characters.
    public static func length(_ range: ClosedRange<Int>) -> FieldRule {
        .string(["minLength": .number(Double(range.lowerBound)), "maxLength": .number(Double(range.upperBound))]) { value, field in
            range.contains(value.unicodeScalars.count) ? nil
                : FieldError(field: field, message: "must be \(range.lowerBound) to \(range.upperBound) characters")
        }
    }

    /// A description: free text of at most `maxLength` characters (`displayText`).
    public static func description(maxLength: Int = 1024) -> FieldRule { displayText(maxLength: maxLength) }

    /// The characters `Validate.displayText` refuses, as an ECMA-262 class.
    static let displayTextPattern =
        "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$"

    // MARK: Network

    /// `Validate.ipv4`: a dotted-quad IPv4 address.
    public static let ipv4 = FieldRule.string(["format": "ipv4"], Validate.ipv4)
    /// `Validate.ipv6`: an IPv6 address (RFC 4291 text form).
    public static let ipv6 = FieldRule.string(["format": "ipv6"], Validate.ipv6)
    /// `Validate.ipAddress`: an IPv4 or IPv6 address.
    public static let ipAddress = FieldRule.string(
        ["anyOf": [["format": "ipv4"], ["format": "ipv6"]]], Validate.ipAddress)
    /// `Validate.macAddress`: six two-digit hex groups separated by ':'.
    public static let macAddress = FieldRule.string(
        ["pattern": "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"], Validate.macAddress)
    /// An IPv4 or IPv6 CIDR block as text: an address, '/', a prefix length in range. That no host bit is set, and
    /// what the block may overlap, are the resource's own rules (a 422), which the document states in `description`.
    public static let cidr = FieldRule.string(
        ["anyOf": [["pattern": .string(ipv4CIDRPattern)], ["pattern": .string(ipv6CIDRPattern)]],
         "description": "An IPv4 or IPv6 CIDR block with no host bits set, e.g. 10.0.0.0/16 or fd00::/48."]) { value, field in
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        let message = "must be a CIDR block: an address, '/' and a prefix length, e.g. 10.0.0.0/16 or fd00::/48"
        guard parts.count == 2, let length = Int(parts[1]), parts[1].allSatisfy(\.isASCII), String(length) == parts[1] else {
            return FieldError(field: field, message: message)
        }
        guard parts[0].contains(":") else {
            return IPv4Address(String(parts[0])) != nil && (0...32).contains(length) ? nil : FieldError(field: field, message: message)
        }
        if parts[0].contains(".") {
            return FieldError(field: field, message: "must be a CIDR block; write an IPv6 block without an embedded IPv4 part (::ffff:a00:0/104, not ::ffff:10.0.0.0/104)")
        }
        return IPv6Address(String(parts[0])) != nil && (0...128).contains(length) ? nil : FieldError(field: field, message: message)
    }

    /// An IPv4 CIDR block: four decimal octets (no leading zeros), a prefix length 0…32.
    static let ipv4CIDRPattern = "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$"
    /// An IPv6 CIDR block (RFC 4291 §2.2 text, without an embedded IPv4 part), a prefix length 0…128.
    static let ipv6CIDRPattern = "^(" + [
        "([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
        "([0-9A-Fa-f]{1,4}:){1,7}:",
        "([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}",
        "([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}",
        "([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}",
        "([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}",
        "([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}",
        "[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}",
        ":(:[0-9A-Fa-f]{1,4}){1,7}",
        "::",
    ].joined(separator: "|") + ")/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"

    /// `Validate.vlanId`: an 802.1Q VLAN id.
    public static let vlanId = integer(1...4094)

    // MARK: Choices

    /// One of `allowed`, a subset of an enum's values (e.g. a status a body may set, where others are reached only
    /// through an action); `message` says why the enum's other values are refused. A value the enum does not have is
    /// told the values of `allowed` only ("must be one of A, B"), not all of the enum's.
    public static func oneOf<E: ZedgeEnum>(_ allowed: [E], message: String) -> FieldRule {
        let unknown = "must be one of " + allowed.map(\.rawValue).joined(separator: ", ")
        return FieldRule(keywords: ["enum": .array(allowed.map { .string($0.rawValue) })]) { value, field in
            guard case .string(let raw) = value, !allowed.contains(where: { $0.rawValue == raw }) else { return nil }
            return FieldError(field: field, message: E(rawValue: raw) == nil ? unknown : message)
        }
    }

    /// One of the strings `allowed`.
    public static func oneOf(strings allowed: [String]) -> FieldRule {
        FieldRule(keywords: ["enum": .array(allowed.map { .string($0) })]) { value, field in
            guard case .string(let raw) = value, !allowed.contains(raw) else { return nil }
            return FieldError(field: field, message: "must be one of " + allowed.joined(separator: ", "))
        }
    }

    // MARK: Numbers and collections

    /// The largest integer magnitude a body may carry (9e15): past it a double, which JSON numbers are read as, no
    /// longer holds every integer (RFC 7493 §2.2).
    public static let largestInteger = 9.0e15

    /// An integer in `range` (`Validate.size`).
    public static func integer(_ range: ClosedRange<Int>) -> FieldRule {
        FieldRule(keywords: ["minimum": .number(Double(range.lowerBound)), "maximum": .number(Double(range.upperBound))]) { value, field in
            guard case .number(let number) = value, let int = Int(exactly: number) else { return nil }
            return Validate.size(int, field: field, in: range)
        }
    }

    /// A number in `range`.
    public static func number(_ range: ClosedRange<Double>) -> FieldRule {
        FieldRule(keywords: ["minimum": .number(range.lowerBound), "maximum": .number(range.upperBound)]) { value, field in
            guard case .number(let number) = value, !range.contains(number) else { return nil }
            return FieldError(field: field, message: "must be from \(Self.text(range.lowerBound)) to \(Self.text(range.upperBound))")
        }
    }

    private static func text(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// An array of `range` items.
    public static func items(_ range: ClosedRange<Int>) -> FieldRule {
        FieldRule(keywords: ["minItems": .number(Double(range.lowerBound)), "maxItems": .number(Double(range.upperBound))]) { isArray, count, field in
            guard isArray, !range.contains(count) else { return nil }
            return FieldError(field: field, message: "must have \(range.lowerBound) to \(range.upperBound) items")
        }
    }

    /// An object of at most `maximum` members.
    public static func maxProperties(_ maximum: Int) -> FieldRule {
        FieldRule(keywords: ["maxProperties": .number(Double(maximum))]) { isArray, count, field in
            guard !isArray, count > maximum else { return nil }
            return FieldError(field: field, message: "must have at most \(maximum) entries")
        }
    }
}
