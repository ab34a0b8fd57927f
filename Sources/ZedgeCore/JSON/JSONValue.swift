#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A free-form JSON value, for the schema's JSON columns (config, tags, networkConfig, connectionConfig,
/// hardwareConfig, dnsServers, details, ipPoolConfig, configSnapshot, task payloads and results, …).
///
/// Numbers are held as `Double`; whole numbers within `Int64` range are encoded as integers, so `1` stays `1`
/// and never becomes `1.0`.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue: Codable {
    /// Tries each JSON type in turn, the commonest first (each miss throws, and throwing is what this costs): a
    /// string, a whole number, a number, a boolean, an object, an array. A JSON decoder tells these apart strictly
    /// (Foundation's refuses `true` as a number and `1` as a boolean). From a whole text, `init(parsing:)` is
    /// several times faster.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let i = try? container.decode(Int64.self) {
            self = .number(Double(i))
        } else if let d = try? container.decode(Double.self) {
            self = .number(d)
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let o = try? container.decode([String: JSONValue].self) {
            self = .object(o)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let d):
            if let i = Int64(exactly: d) { try container.encode(i) } else { try container.encode(d) }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue {
    public var isNull: Bool { if case .null = self { true } else { false } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var doubleValue: Double? { if case .number(let d) = self { d } else { nil } }
    /// The number as an `Int`, if it is whole and in range.
    public var intValue: Int? { if case .number(let d) = self { Int(exactly: d) } else { nil } }
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }

    /// The member `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// The element at `index` of an array; nil when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        guard let a = arrayValue, a.indices.contains(index) else { return nil }
        return a[index]
    }

    /// Converts any `Encodable` value (e.g. a typed task payload) to a `JSONValue`.
    public init<T: Encodable>(encoding value: T) throws {
        self = try JSONValue(parsing: ZedgeJSON.encoder().encode(value))
    }

    /// Decodes this value as `T` (e.g. a typed task payload).
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        let data = try ZedgeJSON.encoder().encode(self)
        return try ZedgeJSON.decoder().decode(T.self, from: data)
    }
}

extension JSONValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .number(value) }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
