import SQLKit
import SQLiteKit

/// A row of `SQLiteStore` as an `SQLRow`: values decoded as SQLiteKit decodes them (`SQLiteDataDecoder`), so that
/// the row codec sees what it saw through SQLiteKit.
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
        return try Self.decoder.decode(D.self, from: values[index])
    }
}
