import Foundation
import SQLKit
import Synchronization

/// INSERT and UPDATE statements whose text (the quoted table and column names) is made once per dialect, table and
/// column list and kept: SQLKit's builders quote every identifier afresh in every statement, which was 10 % of the
/// coordinator's CPU under creates, much of it while a transaction held SQLite's writer (issue #14). The values are
/// serialized as SQLKit serializes them (binds, NULL).
enum StatementText {
    private static let cache = Mutex<[String: [String]]>([:])

    /// The quoted forms of `identifiers` in `db`'s dialect.
    static func quoted(_ identifiers: [String], in db: any SQLDatabase) -> [String] {
        let key = db.dialect.name + "\u{1}" + identifiers.joined(separator: "\u{1}")
        if let known = cache.withLock({ $0[key] }) { return known }
        let made = identifiers.map { db.serialize(SQLIdentifier($0)).sql }
        cache.withLock { cache in
            if cache.count > 4096 { cache.removeAll() }
            cache[key] = made
        }
        return made
    }

    /// `INSERT INTO table (columns…) VALUES (values…)`.
    static func insert(into table: String, _ columns: [(column: String, value: any SQLExpression)], in db: any SQLDatabase) -> any SQLExpression {
        let names = quoted([table] + columns.map(\.column), in: db)
        return Statement { serializer in
            serializer.write("INSERT INTO \(names[0]) (\(names.dropFirst().joined(separator: ", "))) VALUES (")
            for (index, column) in columns.enumerated() {
                if index > 0 { serializer.write(", ") }
                column.value.serialize(to: &serializer)
            }
            serializer.write(")")
        }
    }

    /// `UPDATE table SET column = value, … WHERE id = id [AND condition] RETURNING id`.
    static func update(
        _ table: String, set columns: [(column: String, value: any SQLExpression)], id: UUID,
        and condition: (any SQLExpression)? = nil, in db: any SQLDatabase
    ) -> any SQLExpression {
        let names = quoted([table, "id"] + columns.map(\.column), in: db)
        return Statement { serializer in
            serializer.write("UPDATE \(names[0]) SET ")
            for (index, column) in columns.enumerated() {
                if index > 0 { serializer.write(", ") }
                serializer.write(names[index + 2] + " = ")
                column.value.serialize(to: &serializer)
            }
            serializer.write(" WHERE \(names[1]) = ")
            serializer.write(bind: id)
            if let condition {
                serializer.write(" AND ")
                condition.serialize(to: &serializer)
            }
            serializer.write(" RETURNING \(names[1])")
        }
    }

    /// `SELECT * FROM table WHERE id = id`.
    static func find(in table: String, id: UUID, in db: any SQLDatabase) -> any SQLExpression {
        let names = quoted([table, "id"], in: db)
        return Statement { serializer in
            serializer.write("SELECT * FROM \(names[0]) WHERE \(names[1]) = ")
            serializer.write(bind: id)
        }
    }

    private struct Statement: SQLExpression {
        let write: @Sendable (inout SQLSerializer) -> Void
        func serialize(to serializer: inout SQLSerializer) { write(&serializer) }
    }
}
