import Foundation
import Synchronization
import ZedgeCore

/// Derives a JSON Schema (as a `JSONValue`) from any `Decodable` type by decoding it with a recording
/// decoder. The OpenAPI document and the request body's unknown-field check both come from the real
/// types, so neither can drift from what the code accepts.
public enum SchemaReflector {
    /// The JSON Schema of `type`.
    /// `FieldRule` keywords declared by the type and the types it contains (`FieldRuleDeclaring`) are part of it.
    public static func schema<T: Decodable>(for type: T.Type) -> JSONValue { reflection(of: type).schema }

    /// Every `FieldRule` that `type` and the types it contains declare, with the JSON path it applies to
    /// (property names, and `[]` for each item of an array), in a stable order.
    public static func rules<T: Decodable>(for type: T.Type) -> [RuleAtPath] { reflection(of: type).rules }

    /// A rule and where it applies: `["networks", "[]", "ipAddress"]` is the `ipAddress` of each NIC.
    public struct RuleAtPath: Sendable {
        public var path: [String]
        public var rule: FieldRule
    }

    struct Reflection: Sendable {
        var schema: JSONValue
        var rules: [RuleAtPath]
    }

    private static func reflection<T: Decodable>(of type: T.Type) -> Reflection {
        let key = ObjectIdentifier(type)
        if let known = reflected.withLock({ $0[key] }) { return known }
        let recorder = Recorder()
        _ = try? recorder.value(of: type)
        let made = Reflection(schema: recorder.schema, rules: recorder.rules)
        reflected.withLock { $0[key] = made }
        return made
    }

    /// Reflections so far, by type. A memo of a pure function (a type's schema never changes), kept
    /// because every request body's strict decoding asks for its type's schema and rules.
    private static let reflected = Mutex<[ObjectIdentifier: Reflection]>([:])

    /// `schema` with `additionalProperties: false` on every object that lists its properties: what a request body
    /// may hold, since the body decoder refuses unknown fields at any depth. Free-form objects (no `properties`)
    /// stay open.
    public static func closed(_ schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(var object):
            for (key, value) in object where ["properties", "items", "anyOf", "oneOf", "allOf"].contains(key) {
                switch value {
                case .object(let members) where key == "properties": object[key] = .object(members.mapValues(closed))
                case .array(let members): object[key] = .array(members.map(closed))
                default: object[key] = closed(value)
                }
            }
            if object["properties"] != nil { object["additionalProperties"] = false }
            return .object(object)
        default:
            return schema
        }
    }

    /// The JSON Schema of `type` as a response carries it (`ExplicitNulls`): every property of every object is
    /// present, an optional one as `null` when it has no value, so each is `required` (and the optional ones stay
    /// nullable, as `schema(for:)` marks them).
    public static func responseSchema<T: Decodable>(for type: T.Type) -> JSONValue {
        everyPropertyRequired(schema(for: type))
    }

    /// `schema` with each object's `required` listing all its properties, at every depth.
    static func everyPropertyRequired(_ schema: JSONValue) -> JSONValue {
        guard case .object(var object) = schema else { return schema }
        if case .object(var properties)? = object["properties"] {
            for (name, property) in properties { properties[name] = everyPropertyRequired(property) }
            object["properties"] = .object(properties)
            object["required"] = .array(properties.keys.sorted().map { .string($0) })
        }
        if let items = object["items"] { object["items"] = everyPropertyRequired(items) }
        if case .object? = object["additionalProperties"] {
            object["additionalProperties"] = everyPropertyRequired(object["additionalProperties"]!)
        }
        return .object(object)
    }

    /// The top-level property names `type` decodes (empty for non-object types).
    public static func propertyNames<T: Decodable>(of type: T.Type) -> Set<String> {
        guard case .object(let schema) = schema(for: type),
              case .object(let properties)? = schema["properties"] else { return [] }
        return Set(properties.keys)
    }
}

/// A type whose schema the reflector cannot infer by decoding (free-form JSON, custom encodings).
public protocol SchemaDescribing {
    static var jsonSchema: JSONValue { get }
    static var schemaPlaceholder: Self { get }
}

extension JSONValue: SchemaDescribing {
    public static var jsonSchema: JSONValue { ["description": "Free-form JSON."] }
    public static var schemaPlaceholder: JSONValue { .null }
}

private struct ReflectionStop: Error {}

private final class Recorder: Decoder {
    var schema: JSONValue = [:]
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    private var depth = 0
    /// Where the value being reflected sits, from the root (property names, `[]` for array items).
    var path: [String] = []
    /// The declared rules found so far, by path.
    var rules: [SchemaReflector.RuleAtPath] = []

    /// Decodes a placeholder of `type`, recording its schema into `schema`.
    func value<T: Decodable>(of type: T.Type) throws -> T {
        if let described = type as? any SchemaDescribing.Type {
            schema = described.jsonSchema
            return described.schemaPlaceholder as! T
        }
        if let enumType = type as? any ZedgeEnum.Type {
            schema = ["type": "string", "enum": .array(enumType.allowedValues.map { .string($0) })]
            return Self.firstCase(of: enumType) as! T
        }
        // Any other enum of strings (e.g. GraphicsKind, TemplateParameter.Kind): decoding a placeholder "" would
        // fail and end the reflection of the enclosing type, dropping every property after this one.
        if let enumType = type as? any (CaseIterable & RawRepresentable<String>).Type {
            let cases = Self.stringCases(of: enumType)
            if let first = cases.first {
                schema = ["type": "string", "enum": .array(cases.map { .string($0.raw) })]
                return first.value as! T
            }
        }
        switch type {
        case is String.Type: schema = ["type": "string"]; return "" as! T
        case is Bool.Type: schema = ["type": "boolean"]; return false as! T
        // Integers are I-JSON's (RFC 7493 §2.2): the body decoder refuses a magnitude past 9e15, which a double no
        // longer holds exactly.
        case is Int.Type: schema = Self.integer; return 0 as! T
        case is Int64.Type:
            schema = ["type": "integer", "format": "int64", "minimum": .number(-FieldRule.largestInteger), "maximum": .number(FieldRule.largestInteger)]
            return Int64(0) as! T
        case is Int32.Type:
            schema = ["type": "integer", "format": "int32", "minimum": .number(Double(Int32.min)), "maximum": .number(Double(Int32.max))]
            return Int32(0) as! T
        case is Double.Type: schema = ["type": "number"]; return 0.0 as! T
        case is Float.Type: schema = ["type": "number"]; return Float(0) as! T
        case is UUID.Type: schema = ["type": "string", "format": "uuid"]; return UUID() as! T
        case is Date.Type: schema = ["type": "string", "format": "date-time"]; return Date() as! T
        case is URL.Type: schema = ["type": "string", "format": "uri"]; return URL(string: "https://x")! as! T
        default:
            depth += 1
            defer { depth -= 1 }
            guard depth < 12 else { schema = [:]; throw ReflectionStop() }  // recursive types
            schema = [:]  // this value's own; a second keyed container below adds to it (see `container(keyedBy:)`)
            do {
                let value = try T(from: self)
                applyRules(of: type)
                return value
            } catch {
                applyRules(of: type)
                throw error
            }
        }
    }

    /// Merges the `FieldRule` keywords `type` declares into the object schema just recorded, and notes each rule
    /// with its path.
    private func applyRules<T>(of type: T.Type) {
        guard let declaring = type as? any FieldRuleDeclaring.Type, case .object(var object) = schema,
              case .object(var properties)? = object["properties"] else { return }
        for (key, rule) in declaring.fieldRules.sorted(by: { $0.key < $1.key }) {
            let eachItem = key.hasSuffix("[]")
            let name = eachItem ? String(key.dropLast(2)) : key
            // A rule table may be shared by a create and a PATCH that decodes fewer fields.
            guard case .object(var property)? = properties[name] else { continue }
            if eachItem {
                guard case .object(var items)? = property["items"] else {
                    preconditionFailure("\(type) declares an item rule for \(key), which is not an array")
                }
                items.merge(rule.keywords) { _, new in new }
                property["items"] = .object(items)
            } else {
                let nullable = property["enum"].map { if case .array(let values) = $0 { values.contains(.null) } else { false } } ?? false
                property.merge(rule.keywords) { _, new in new }
                if nullable, case .array(let values)? = property["enum"] { property["enum"] = .array(values + [.null]) }
            }
            properties[name] = .object(property)
            rules.append(.init(path: path + (eachItem ? [name, "[]"] : [name]), rule: rule))
        }
        object["properties"] = .object(properties)
        schema = .object(object)
    }

    static let integer: JSONValue = [
        "type": "integer", "minimum": .number(-FieldRule.largestInteger), "maximum": .number(FieldRule.largestInteger),
    ]

    private static func firstCase<E: ZedgeEnum>(of type: E.Type) -> Any { E.allCases.first! }

    private static func stringCases<E: CaseIterable & RawRepresentable<String>>(of type: E.Type) -> [(value: Any, raw: String)] {
        E.allCases.map { (value: $0 as Any, raw: $0.rawValue) }
    }

    /// A type that decodes another's fields and then its own from one decoder (`InstanceView`: an `Instance` and
    /// `unreachable`) asks for a keyed container twice; the second adds to the properties the first recorded.
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let object = ObjectSchema()
        if case .object(let existing) = schema, case .object(let properties)? = existing["properties"] {
            object.properties = properties
            if case .array(let required)? = existing["required"] { object.required = required.compactMap(\.stringValue) }
        } else {
            schema = .object(["type": "object"])
        }
        let container = KeyedRecorder<Key>(recorder: self, object: object)
        return KeyedDecodingContainer(container)
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        UnkeyedRecorder(recorder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleRecorder(recorder: self)
    }

    /// Records the schema of a nested value without disturbing the current one.
    func nested<T: Decodable>(_ type: T.Type, at component: String) throws -> (T, JSONValue) {
        let saved = schema
        path.append(component)
        defer { schema = saved; path.removeLast() }
        let value = try self.value(of: type)
        return (value, schema)
    }
}

/// Collects an object's properties as the keyed container is used.
private final class ObjectSchema {
    var properties: [String: JSONValue] = [:]
    var required: [String] = []
}

private struct KeyedRecorder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let recorder: Recorder
    let object: ObjectSchema
    var codingPath: [any CodingKey] { [] }
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }
    func decodeNil(forKey key: Key) throws -> Bool { false }

    private func record(_ key: Key, _ schema: JSONValue, required: Bool) {
        object.properties[key.stringValue] = required ? schema : Self.nullable(schema)
        if required, !object.required.contains(key.stringValue) { object.required.append(key.stringValue) }
        var result: [String: JSONValue] = ["type": "object", "properties": .object(object.properties)]
        if !object.required.isEmpty { result["required"] = .array(object.required.map { .string($0) }) }
        recorder.schema = .object(result)
    }

    /// An optional property also accepts `null` (which a PATCH uses to clear it).
    static func nullable(_ schema: JSONValue) -> JSONValue {
        guard case .object(var object) = schema, case .string(let type)? = object["type"] else { return schema }
        object["type"] = [.string(type), "null"]
        if case .array(let values)? = object["enum"] { object["enum"] = .array(values + [.null]) }
        return .object(object)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let (value, schema) = try recorder.nested(type, at: key.stringValue)
        record(key, schema, required: true)
        return value
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let (value, schema) = try recorder.nested(type, at: key.stringValue)
        record(key, schema, required: false)
        return value
    }

    // The standard library's defaults for these route through `decode` (which records "required").
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        let (value, schema) = try recorder.nested(type, at: key.stringValue)
        record(key, schema, required: false)
        return value
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        throw ReflectionStop()
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { throw ReflectionStop() }
    func superDecoder() throws -> any Decoder { recorder }
    func superDecoder(forKey key: Key) throws -> any Decoder { recorder }
}

private struct UnkeyedRecorder: UnkeyedDecodingContainer {
    let recorder: Recorder
    var codingPath: [any CodingKey] { [] }
    var count: Int? { 1 }
    var currentIndex = 0
    var isAtEnd: Bool { currentIndex >= 1 }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, items) = try recorder.nested(type, at: "[]")
        currentIndex += 1
        recorder.schema = ["type": "array", "items": items]
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        throw ReflectionStop()
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { throw ReflectionStop() }
    mutating func superDecoder() throws -> any Decoder { recorder }
}

private struct SingleRecorder: SingleValueDecodingContainer {
    let recorder: Recorder
    var codingPath: [any CodingKey] { [] }
    func decodeNil() -> Bool { false }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try recorder.value(of: type) }
}
