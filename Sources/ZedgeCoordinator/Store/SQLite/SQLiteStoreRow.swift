import Foundation
import SQLKit
import SQLiteKit
import SQLiteNIO
import ZedgeCore

/// A row of `SQLiteStore` as an `SQLRow`: values decoded as SQLiteKit decodes them (`SQLiteDataDecoder`), so that
/// the row codec sees what it saw through SQLiteKit.
///
/// The scalar columns every row has (text, integers, reals, UUIDs, dates, `ZedgeEnum`s) are converted here without
/// the decoder: through it, each asks a dynamic cast and a UUID or an enum allocates a nested decoder (issue #14:
/// 2.5 % of the coordinator's CPU under creates). The result is the same (`SQLiteDataConvertible`'s initializers,
/// which the decoder calls), and any other storage class, or a value those refuse, still goes to the decoder and
/// its error.
struct SQLiteStoreRow: SQLRow {
    let columns: SQLiteColumns
    let values: [SQLiteData]
    static let decoder = SQLiteDataDecoder()

    struct MissingColumn: Error, CustomStringConvertible {
        let column: String
        var description: String { "no column \(column) in the row" }
    }

    var allColumns: [String] { columns.names }

    func contains(column: String) -> Bool { columns.index[column] != nil }

    func decodeNil(column: String) throws -> Bool {
        guard let index = columns.index[column] else { return true }
        return values[index] == .null
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let index = columns.index[column] else { throw MissingColumn(column: column) }
        let value = values[index]
        if let scalar = Self.scalar(value, as: type) { return scalar }
        return try Self.decoder.decode(D.self, from: value)
    }

    /// `value` as `D` when `D` is a scalar Zedge stores and `value` has its storage class; nil for anything else.
    static func scalar<D>(_ value: SQLiteData, as type: D.Type) -> D? {
        switch value {
        case .text(let text):
            if type == String.self { return text as? D }
            if type == UUID.self { return UUIDText.parse(text) as? D }
            if let enumType = type as? any ZedgeEnum.Type { return enumType.init(rawValue: text) as? D }
            return nil
        case .integer(let integer):
            if type == Int.self { return integer as? D }
            if type == Int64.self { return Int64(integer) as? D }
            if type == Bool.self { return Bool(sqliteData: value) as? D }
            return nil
        case .float:
            if type == Date.self { return Date(sqliteData: value) as? D }
            if type == Double.self { return Double(sqliteData: value) as? D }
            return nil
        case .blob, .null:
            return nil
        }
    }
}
