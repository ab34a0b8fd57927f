import Foundation
import SQLKit
import ZedgeCore

/// Maps models to rows and back, identically on SQLite and PostgreSQL: property `fooBarId` is column
/// `foo_bar_id`; scalars (String, numbers, Bool, UUID, Date, ZedgeEnum) bind natively; anything nested
/// (JSONValue, QuotaConfig, arrays, structs) is JSON text written with `ZedgeJSON`. Every nil is written
/// as NULL, so an update that clears a field clears it.
public enum RowCodec {
    /// The columns and values of `model`.
    public static func columns<T: Encodable>(of model: T) throws -> [(column: String, value: any SQLExpression)] {
        let encoder = ColumnEncoder()
        try model.encode(to: encoder)
        return encoder.columns
    }

    /// Decodes `type` from a row; columns the type does not know are ignored.
    public static func decode<T: Decodable>(_ type: T.Type, from row: any SQLRow) throws -> T {
        try T(from: RowDecoder(row: row))
    }

    /// `edgeDataCenterId` → `edge_data_center_id`.
    public static func column(_ property: String) -> String {
        // Property names are ASCII: map bytes (every column of every row read comes through here).
        if property.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(property.utf8.count + 4)
            for byte in property.utf8 {
                if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") {
                    if !bytes.isEmpty { bytes.append(UInt8(ascii: "_")) }
                    bytes.append(byte + 32)
                } else {
                    bytes.append(byte)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var result = ""
        for character in property {
            if character.isUppercase {
                if !result.isEmpty { result.append("_") }
                result.append(contentsOf: character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// `edge_data_center_id` → `edgeDataCenterId`.
    public static func property(_ column: String) -> String {
        let parts = column.split(separator: "_")
        guard let first = parts.first else { return column }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// An optional value as a bindable SQL expression: NULL for nil.
    public static func bind<T: Encodable>(optional value: T?) throws -> any SQLExpression {
        try value.map { try bind($0) } ?? SQLLiteral.null
    }

    /// A value as a bindable SQL expression.
    public static func bind<T: Encodable>(_ value: T) throws -> any SQLExpression {
        if let enumValue = value as? any ZedgeEnum { return SQLBind(enumValue.rawValue) }
        switch value {
        case let v as String: return SQLBind(v)
        case let v as Int: return SQLBind(v)
        case let v as Int64: return SQLBind(v)
        case let v as Double: return SQLBind(v)
        case let v as Bool: return SQLBind(v)
        case let v as UUID: return SQLBind(v)
        case let v as Date: return SQLBind(v)
        default:
            let data = try ZedgeJSON.encoder().encode(value)
            return SQLBind(String(decoding: data, as: UTF8.self))
        }
    }

    static func isScalar(_ type: Any.Type) -> Bool {
        type is any ZedgeEnum.Type || type == String.self || type == Int.self || type == Int64.self
            || type == Double.self || type == Bool.self || type == UUID.self || type == Date.self
    }
}

private final class ColumnEncoder: Encoder {
    var columns: [(column: String, value: any SQLExpression)] = []
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(ColumnContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        preconditionFailure("a row is encoded from a keyed model")
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        preconditionFailure("a row is encoded from a keyed model")
    }
}

private struct ColumnContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: ColumnEncoder
    var codingPath: [any CodingKey] { [] }

    private func append(_ key: Key, _ value: any SQLExpression) {
        encoder.columns.append((RowCodec.column(key.stringValue), value))
    }

    mutating func encodeNil(forKey key: Key) throws { append(key, SQLLiteral.null) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { append(key, try RowCodec.bind(value)) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    // The standard library's defaults skip nil; a row must say NULL.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, forKey: key) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        preconditionFailure("nested values are encoded as JSON columns")
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        preconditionFailure("nested values are encoded as JSON columns")
    }
    mutating func superEncoder() -> any Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
}

private struct RowDecoder: Decoder {
    let row: any SQLRow
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RowContainer<Key>(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: [], debugDescription: "a row is keyed"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(Any.self, .init(codingPath: [], debugDescription: "a row is keyed"))
    }
}

private struct RowContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let row: any SQLRow
    var codingPath: [any CodingKey] { [] }
    var allKeys: [Key] { row.allColumns.compactMap { Key(stringValue: RowCodec.property($0)) } }

    func contains(_ key: Key) -> Bool { row.contains(column: RowCodec.column(key.stringValue)) }

    func decodeNil(forKey key: Key) throws -> Bool {
        let column = RowCodec.column(key.stringValue)
        guard row.contains(column: column) else { return true }
        return try row.decodeNil(column: column)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let column = RowCodec.column(key.stringValue)
        if RowCodec.isScalar(type) {
            return try row.decode(column: column, as: type)
        }
        let text = try row.decode(column: column, as: String.self)
        if type == JSONValue.self {
            return try JSONValue(parsing: text) as! T  // several times faster than through Decodable
        }
        return try ZedgeJSON.decoder().decode(type, from: Data(text.utf8))
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type as Bool.Type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type as String.Type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type as Double.Type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type as Int.Type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type as Int64.Type, key) }

    private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try row.decode(column: RowCodec.column(key.stringValue), as: type)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        throw DecodingError.typeMismatch(type, .init(codingPath: [key], debugDescription: "JSON columns decode whole"))
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: [key], debugDescription: "JSON columns decode whole"))
    }
    func superDecoder() throws -> any Decoder { RowDecoder(row: row) }
    func superDecoder(forKey key: Key) throws -> any Decoder { RowDecoder(row: row) }
}
