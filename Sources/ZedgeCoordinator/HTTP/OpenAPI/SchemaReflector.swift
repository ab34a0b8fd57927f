import Foundation
import Synchronization
import ZedgeCore

/// Derives a JSON Schema (as a `JSONValue`) from any `Decodable` type by decoding it with a recording
/// decoder. The OpenAPI document and the request body's unknown-field check both come from the real
/// types, so neither can drift from what the code accepts.
public enum SchemaReflector {
    /// The JSON Schema of `type`.
    public static func schema<T: Decodable>(for type: T.Type) -> JSONValue {
        let key = ObjectIdentifier(type)
        if let known = reflected.withLock({ $0[key] }) { return known }
        let recorder = Recorder()
        _ = try? recorder.value(of: type)
        reflected.withLock { $0[key] = recorder.schema }
        return recorder.schema
    }

    /// Schemas reflected so far, by type. A memo of a pure function (a type's schema never changes), kept
    /// because every request body's strict decoding asks for its type's schema.
    private static let reflected = Mutex<[ObjectIdentifier: JSONValue]>([:])

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
        case is Int.Type: schema = ["type": "integer"]; return 0 as! T
        case is Int64.Type: schema = ["type": "integer", "format": "int64"]; return Int64(0) as! T
        case is Int32.Type: schema = ["type": "integer", "format": "int32"]; return Int32(0) as! T
        case is Double.Type: schema = ["type": "number"]; return 0.0 as! T
        case is Float.Type: schema = ["type": "number"]; return Float(0) as! T
        case is UUID.Type: schema = ["type": "string", "format": "uuid"]; return UUID() as! T
        case is Date.Type: schema = ["type": "string", "format": "date-time"]; return Date() as! T
        case is URL.Type: schema = ["type": "string", "format": "uri"]; return URL(string: "https://x")! as! T
        default:
            depth += 1
            defer { depth -= 1 }
            guard depth < 12 else { schema = [:]; throw ReflectionStop() }  // recursive types
            return try T(from: self)
        }
    }

    private static func firstCase<E: ZedgeEnum>(of type: E.Type) -> Any { E.allCases.first! }

    private static func stringCases<E: CaseIterable & RawRepresentable<String>>(of type: E.Type) -> [(value: Any, raw: String)] {
        E.allCases.map { (value: $0 as Any, raw: $0.rawValue) }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let object = ObjectSchema()
        schema = .object(["type": "object"])
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
    func nested<T: Decodable>(_ type: T.Type) throws -> (T, JSONValue) {
        let saved = schema
        defer { schema = saved }
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
        let (value, schema) = try recorder.nested(type)
        record(key, schema, required: true)
        return value
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let (value, schema) = try recorder.nested(type)
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
        let (value, schema) = try recorder.nested(type)
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
        let (value, items) = try recorder.nested(type)
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
