#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes `value` with every optional property present: `null` where Swift's synthesized `Encodable` would leave
/// the key out (`encodeIfPresent`). Issue #15 item 5: every response of a type carries the same keys, as the OpenAPI
/// document says (each property required, an optional one nullable), so that a client never has to tell "absent"
/// from "null".
///
/// It wraps the encoder `JSONEncoder` hands to `value` and changes only what `encodeIfPresent` does with nil; keys,
/// dates (the encoder's own strategy), nested values and JSON text stay `JSONEncoder`'s. Values `JSONEncoder`
/// encodes in its own way (`Date`, `Data`, `URL`, `Decimal`) are passed to it as they are.
public struct ExplicitNulls<Value: Encodable>: Encodable {
    public let value: Value

    public init(_ value: Value) { self.value = value }

    public func encode(to encoder: any Encoder) throws {
        try value.encode(to: NullWritingEncoder(base: encoder))
    }

    /// `value` wrapped, unless its type has nothing for the wrapping to do (`hasNoOptionals`).
    /// Compared by metatype, not by a dynamic cast of the value: this runs for every nested value of every response
    /// (issue #14: the casts and the wrapping of each member of a task payload were 5 % of the coordinator's CPU).
    public static func wrapped<T: Encodable>(_ value: T) -> any Encodable {
        hasNoOptionals(T.self) ? value : ExplicitNulls<T>(value)
    }

    /// Whether wrapping a `type` changes nothing: `JSONEncoder` treats it itself (`Date`, `Data`, `URL`, `Decimal`),
    /// or its encoding has no optional property to write (`JSONValue` and `[String: JSONValue]`, which write their own
    /// nulls; `UUID`; `String`; `HeartbeatResponse`, which every agent's heartbeat is answered with: wrapping it was
    /// ~3 % of a saturated heartbeat's CPU, issue #14), or writes its one optional's null itself (`TaskPollResponse`,
    /// every long-poll's answer). A type added here must have no optional at any depth that its own `encode(to:)`
    /// leaves out; `ExplicitNullsPassThroughTests` checks the protocol types by reflection and by their encoding.
    public static func hasNoOptionals<T>(_ type: T.Type) -> Bool {
        T.self == JSONValue.self || T.self == [String: JSONValue].self || T.self == UUID.self || T.self == String.self
            || T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self
            || T.self == HeartbeatResponse.self || T.self == TaskPollResponse.self || isScalar(T.self)
    }

    /// The standard library's scalars `JSONEncoder` writes as they are (reached through a generic path: an array's
    /// elements, an optional's value).
    static func isScalar<T>(_ type: T.Type) -> Bool {
        T.self == Int.self || T.self == Bool.self || T.self == Double.self || T.self == Int64.self || T.self == Float.self
            || T.self == Int32.self || T.self == UInt.self || T.self == UInt64.self || T.self == UInt32.self
            || T.self == Int16.self || T.self == UInt16.self || T.self == Int8.self || T.self == UInt8.self
    }
}

/// The encoder `ExplicitNulls` gives the value: the same as `base`, with containers that write nil.
private struct NullWritingEncoder: Encoder {
    let base: any Encoder
    var codingPath: [any CodingKey] { base.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { base.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(NullWritingKeyed(base: base.container(keyedBy: type)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { NullWritingUnkeyed(base: base.unkeyedContainer()) }

    func singleValueContainer() -> any SingleValueEncodingContainer { NullWritingSingle(base: base.singleValueContainer()) }
}

private struct NullWritingKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var base: KeyedEncodingContainer<Key>
    var codingPath: [any CodingKey] { base.codingPath }

    mutating func encodeNil(forKey key: Key) throws { try base.encodeNil(forKey: key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try base.encode(value, forKey: key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try base.encode(ExplicitNulls<T>.wrapped(value), forKey: key)
    }

    // What this type is for: nil is written, not left out. A scalar is written as it is: through the generic `present`
    // it was boxed, wrapped and sent through the encoder's generic path (15 of the 37 samples an operation's encoding
    // took in a profile, issue #14).
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws {
        if let value { try base.encode(value, forKey: key) } else { try base.encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try present(value, key) }

    private mutating func present<T: Encodable>(_ value: T?, _ key: Key) throws {
        guard let value else { return try base.encodeNil(forKey: key) }
        try encode(value, forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(NullWritingKeyed<NestedKey>(base: base.nestedContainer(keyedBy: keyType, forKey: key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NullWritingUnkeyed(base: base.nestedUnkeyedContainer(forKey: key))
    }

    mutating func superEncoder() -> any Encoder { NullWritingEncoder(base: base.superEncoder()) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { NullWritingEncoder(base: base.superEncoder(forKey: key)) }
}

private struct NullWritingUnkeyed: UnkeyedEncodingContainer {
    var base: any UnkeyedEncodingContainer
    var codingPath: [any CodingKey] { base.codingPath }
    var count: Int { base.count }

    mutating func encodeNil() throws { try base.encodeNil() }
    mutating func encode(_ value: Bool) throws { try base.encode(value) }
    mutating func encode(_ value: String) throws { try base.encode(value) }
    mutating func encode(_ value: Double) throws { try base.encode(value) }
    mutating func encode(_ value: Float) throws { try base.encode(value) }
    mutating func encode(_ value: Int) throws { try base.encode(value) }
    mutating func encode(_ value: Int8) throws { try base.encode(value) }
    mutating func encode(_ value: Int16) throws { try base.encode(value) }
    mutating func encode(_ value: Int32) throws { try base.encode(value) }
    mutating func encode(_ value: Int64) throws { try base.encode(value) }
    mutating func encode(_ value: UInt) throws { try base.encode(value) }
    mutating func encode(_ value: UInt8) throws { try base.encode(value) }
    mutating func encode(_ value: UInt16) throws { try base.encode(value) }
    mutating func encode(_ value: UInt32) throws { try base.encode(value) }
    mutating func encode(_ value: UInt64) throws { try base.encode(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try base.encode(ExplicitNulls<T>.wrapped(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(NullWritingKeyed<NestedKey>(base: base.nestedContainer(keyedBy: keyType)))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { NullWritingUnkeyed(base: base.nestedUnkeyedContainer()) }
    mutating func superEncoder() -> any Encoder { NullWritingEncoder(base: base.superEncoder()) }
}

private struct NullWritingSingle: SingleValueEncodingContainer {
    var base: any SingleValueEncodingContainer
    var codingPath: [any CodingKey] { base.codingPath }

    mutating func encodeNil() throws { try base.encodeNil() }
    mutating func encode(_ value: Bool) throws { try base.encode(value) }
    mutating func encode(_ value: String) throws { try base.encode(value) }
    mutating func encode(_ value: Double) throws { try base.encode(value) }
    mutating func encode(_ value: Float) throws { try base.encode(value) }
    mutating func encode(_ value: Int) throws { try base.encode(value) }
    mutating func encode(_ value: Int8) throws { try base.encode(value) }
    mutating func encode(_ value: Int16) throws { try base.encode(value) }
    mutating func encode(_ value: Int32) throws { try base.encode(value) }
    mutating func encode(_ value: Int64) throws { try base.encode(value) }
    mutating func encode(_ value: UInt) throws { try base.encode(value) }
    mutating func encode(_ value: UInt8) throws { try base.encode(value) }
    mutating func encode(_ value: UInt16) throws { try base.encode(value) }
    mutating func encode(_ value: UInt32) throws { try base.encode(value) }
    mutating func encode(_ value: UInt64) throws { try base.encode(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try base.encode(ExplicitNulls<T>.wrapped(value)) }
}
