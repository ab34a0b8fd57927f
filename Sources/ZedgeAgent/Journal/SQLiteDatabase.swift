import CSQLite3
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A failure of the agent's task journal.
public enum JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    /// SQLite returned `code` while doing `context`; `message` is `sqlite3_errmsg`.
    case sqlite(code: Int32, message: String, context: String)
    /// No journal entry has this task id.
    case notFound(UUID)
    /// A stored row could not be read back (bad enum value, bad JSON, bad UUID).
    case corrupt(String)
    /// The database refused a durability setting the journal depends on.
    case durability(String)

    public var description: String {
        switch self {
        case .sqlite(let code, let message, let context): "journal: \(context): \(message) (SQLite code \(code))"
        case .notFound(let id): "journal: no entry for task \(id.uuidString.lowercased())"
        case .corrupt(let detail): "journal: corrupt row: \(detail)"
        case .durability(let detail): "journal: \(detail)"
        }
    }
}

/// A value bound to a statement parameter or read from a column.
enum SQLiteValue {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// `SQLITE_TRANSIENT`: SQLite copies bound text before `sqlite3_bind_text` returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection: owns its `sqlite3*` and closes it on `close()` or deinit.
///
/// Deliberately not `Sendable`: a connection is used by one thread at a time. `TaskJournal` keeps its
/// connection inside a `Mutex`, which is what makes the journal safe to share.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    let path: String

    /// Opens (creating if needed) the database file at `path`.
    init(path: String) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw JournalError.sqlite(code: rc, message: message, context: "open \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    var isOpen: Bool { handle != nil }

    func close() throws {
        guard let db = handle else { return }
        let rc = sqlite3_close_v2(db)
        guard rc == SQLITE_OK else {
            throw JournalError.sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), context: "close")
        }
        handle = nil
    }

    private func openHandle(_ context: String) throws -> OpaquePointer {
        guard let db = handle else {
            throw JournalError.sqlite(code: SQLITE_MISUSE, message: "the journal is closed", context: context)
        }
        return db
    }

    func error(_ rc: Int32, _ context: String) -> JournalError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        return .sqlite(code: rc, message: message, context: context)
    }

    /// Runs SQL without parameters (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: String) throws {
        let db = try openHandle(sql)
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errmsg)
        guard rc == SQLITE_OK else {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errmsg)
            throw JournalError.sqlite(code: rc, message: message, context: sql)
        }
    }

    /// Runs `sql` with `bindings` and returns every row.
    @discardableResult
    func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        let statement = try prepare(sql)
        try statement.bind(bindings)
        var rows: [[SQLiteValue]] = []
        while let row = try statement.step() { rows.append(row) }
        return rows
    }

    /// Runs a data-changing `sql` with `bindings`; returns the number of rows changed.
    @discardableResult
    func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> Int {
        try query(sql, bindings)
        return Int(sqlite3_changes(try openHandle(sql)))
    }

    /// Runs `body` in one `BEGIN IMMEDIATE … COMMIT` transaction, rolling back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        let db = try openHandle(sql)
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw error(rc, "prepare \(sql)")
        }
        return SQLiteStatement(statement: statement, database: self, sql: sql)
    }

    func setBusyTimeout(milliseconds: Int32) throws {
        let db = try openHandle("busy_timeout")
        let rc = sqlite3_busy_timeout(db, milliseconds)
        guard rc == SQLITE_OK else { throw error(rc, "busy_timeout") }
    }
}

/// A prepared statement; finalized on deinit.
final class SQLiteStatement {
    private let statement: OpaquePointer
    private let database: SQLiteDatabase
    private let sql: String

    fileprivate init(statement: OpaquePointer, database: SQLiteDatabase, sql: String) {
        self.statement = statement
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(statement) }

    func bind(_ values: [SQLiteValue]) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == values.count else {
            throw JournalError.sqlite(
                code: SQLITE_RANGE, message: "\(values.count) values for \(expected) parameters", context: sql)
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let i): rc = sqlite3_bind_int64(statement, index, i)
            case .real(let d): rc = sqlite3_bind_double(statement, index, d)
            case .text(let s): rc = sqlite3_bind_text(statement, index, s, -1, sqliteTransient)
            }
            guard rc == SQLITE_OK else { throw database.error(rc, "bind parameter \(index) of \(sql)") }
        }
    }

    /// Advances; returns the next row, or nil when done.
    func step() throws -> [SQLiteValue]? {
        let rc = sqlite3_step(statement)
        switch rc {
        case SQLITE_ROW:
            return (0..<sqlite3_column_count(statement)).map(column)
        case SQLITE_DONE:
            return nil
        default:
            throw database.error(rc, sql)
        }
    }

    private func column(_ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_NULL: return .null
        default:
            guard let text = sqlite3_column_text(statement, index) else { return .null }
            return .text(String(cString: text))
        }
    }
}

extension SQLiteValue {
    var string: String? { if case .text(let s) = self { s } else { nil } }
    var int: Int? {
        switch self {
        case .integer(let i): Int(exactly: i)
        case .real(let d): Int(exactly: d)
        default: nil
        }
    }
    var double: Double? {
        switch self {
        case .real(let d): d
        case .integer(let i): Double(i)
        default: nil
        }
    }
    var date: Date? { double.map { Date(timeIntervalSince1970: $0) } }

    init(_ string: String?) { self = string.map(SQLiteValue.text) ?? .null }
    init(_ date: Date?) { self = date.map { .real($0.timeIntervalSince1970) } ?? .null }
}
