import CSQLite3
import Foundation
import NIOCore
import SQLiteNIO
import Synchronization

/// A failure SQLite reported: its extended result code and `sqlite3_errmsg`.
public struct SQLiteStoreError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (https://sqlite.org/rescode.html): 2067 SQLITE_CONSTRAINT_UNIQUE, 1555
    /// SQLITE_CONSTRAINT_PRIMARYKEY, 787 SQLITE_CONSTRAINT_FOREIGNKEY, 1811 SQLITE_CONSTRAINT_TRIGGER, …
    public let code: Int32
    public let message: String

    public var description: String { "SQLite error \(code): \(message)" }

    public var isUniqueViolation: Bool { code == 2067 || code == 1555 }

    /// SQLite reports a violated ON DELETE RESTRICT as SQLITE_CONSTRAINT_TRIGGER (it runs RESTRICT as an internal
    /// trigger) and other foreign-key failures as SQLITE_CONSTRAINT_FOREIGNKEY; the message is "FOREIGN KEY
    /// constraint failed" either way.
    public var isForeignKeyViolation: Bool {
        code == 787 || (code == 1811 && message.contains("FOREIGN KEY constraint failed"))
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies a bound text or blob before `sqlite3_bind_*` returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One connection to the coordinator's SQLite file (the system's libsqlite3), with its prepared statements kept by
/// their SQL text (each statement is prepared once per connection, not once per run).
///
/// Not thread-safe: its owner (`SQLiteStore`) gives it to one caller at a time.
final class SQLiteHandle: @unchecked Sendable {
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// Statements run on this connection so far (read from any thread).
    private let runs = Atomic<Int>(0)
    var statementsRun: Int { runs.load(ordering: .relaxed) }
    /// Set on the writer for `ZEDGE_SQLITE_STATEMENT_PROFILE` (a diagnostic; nil otherwise).
    var profile: SQLiteStatementProfile?
    /// More distinct statements than this (IN lists of every length, say) empty the cache.
    static let cacheLimit = 512

    /// Opens `path` (creating it) with the pragmas Zedge relies on: WAL, foreign keys, a busy timeout, NORMAL
    /// synchronous (WAL: durable at each checkpoint, consistent always), the WAL file cut back to 64 MiB when it starts
    /// over (`journal_size_limit`). The writer maps the file (`mmap_size`, 256 MiB of address space). `readOnly`:
    /// `query_only`, so that whatever reaches it cannot write, and no mapping: a reader whose read transaction finds
    /// the database changed since its last one drops its page cache and unmaps the whole file, so under steady
    /// writes every read unmapped it (with the other cores' TLBs flushed) and faulted its pages back in (issue #14:
    /// 1,434 munmaps in 5 s under creates; `pread` into the page cache is cheaper). `temp_store = MEMORY` keeps
    /// statement and savepoint journals in memory: each group member runs in a SAVEPOINT, so every page it changes
    /// is copied to the sub-journal, and past 64 KiB SQLite spilled that to a new temporary file in /var/tmp (created,
    /// unlinked, written 2 `pwrite`s a page, closed: ~47 files a second under creates, issue #14).
    init(path: String, readOnly: Bool) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(handle)
            throw SQLiteStoreError(code: rc, message: "open \(path): \(message)")
        }
        db = handle
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 5000)
        do {
            for pragma in [
                "PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL",
                "PRAGMA journal_size_limit = 67108864", "PRAGMA temp_store = MEMORY",
            ] + (readOnly ? ["PRAGMA query_only = ON", "PRAGMA mmap_size = 0"] : ["PRAGMA mmap_size = 268435456"]) {
                _ = try run(pragma, [], cached: false) { _, _ in }
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Whether a transaction is open on this connection (`sqlite3_get_autocommit` is 0): after an error, false
    /// means SQLite rolled the whole transaction back.
    var inTransaction: Bool { db.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    /// Finalizes the statements and closes the connection; `run` throws after.
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements.removeAll()
        sqlite3_close_v2(db)
        db = nil
    }

    /// Runs `sql` with `binds`, handing each row (the column names, the values) to `onRow`.
    /// - Throws: `SQLiteStoreError`.
    func run(_ sql: String, _ binds: [SQLiteData], cached: Bool = true,
             _ onRow: (_ columns: SQLiteColumns, _ values: [SQLiteData]) throws -> Void) throws {
        let statement = try prepare(sql, cached: cached)
        runs.add(1, ordering: .relaxed)
        let started = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        defer {
            if let profile {
                let steps = Int(sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_VM_STEP, 1))
                profile.record(sql, steps: steps, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
            }
            if cached {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            } else {
                sqlite3_finalize(statement)
            }
        }
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == binds.count else {
            throw SQLiteStoreError(code: SQLITE_RANGE, message: "\(binds.count) values for \(expected) parameters: \(sql)")
        }
        for (offset, value) in binds.enumerated() {
            try check(bind(value, at: Int32(offset + 1), to: statement))
        }
        var columns: SQLiteColumns?
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            let count = sqlite3_column_count(statement)
            let names = columns ?? SQLiteColumns((0..<count).map { String(cString: sqlite3_column_name(statement, $0)) })
            columns = names
            try onRow(names, (0..<count).map { column($0, of: statement) })
        }
    }

    /// Runs `sql`, which binds nothing and whose rows (if any) are not wanted: BEGIN, SAVEPOINT, COMMIT and the like.
    func run(_ sql: String) throws {
        try run(sql, []) { _, _ in }
    }

    /// The database's page size, in bytes (`PRAGMA page_size`). Throws `SQLiteStoreError`.
    func pageSize() throws -> Int {
        var size = 0
        try run("PRAGMA page_size", [], cached: false) { _, values in
            if case .integer(let value) = values.first { size = value }
        }
        return size
    }

    /// Hands this connection's checkpoints to `checkpointer`: after each commit SQLite calls the WAL hook with the
    /// WAL's size in pages (https://sqlite.org/c3ref/wal_hook.html), in place of its automatic checkpoint.
    /// `checkpointer` must outlive the connection.
    func handCheckpoints(to checkpointer: SQLiteCheckpointer) {
        sqlite3_wal_hook(db, { context, _, _, pages in
            guard let context else { return SQLITE_OK }
            Unmanaged<SQLiteCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(walPages: Int(pages))
            return SQLITE_OK
        }, Unmanaged.passUnretained(checkpointer).toOpaque())
    }

    /// A PASSIVE checkpoint (https://sqlite.org/c3ref/wal_checkpoint_v2.html): copies the WAL frames no reader needs
    /// into the database file without waiting for the writer or readers. Returns the WAL's size and the frames
    /// copied so far, in frames. Throws `SQLiteStoreError`.
    func checkpointPassive() throws -> (walFrames: Int, copied: Int) {
        guard let db else { throw SQLiteStoreError(code: SQLITE_MISUSE, message: "the database is closed") }
        var log: Int32 = 0
        var copied: Int32 = 0
        try check(sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied))
        return (Int(log), Int(copied))
    }

    private func prepare(_ sql: String, cached: Bool) throws -> OpaquePointer {
        if cached, let statement = statements[sql] { return statement }
        guard let db else { throw SQLiteStoreError(code: SQLITE_MISUSE, message: "the database is closed") }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, cached ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw error(rc)
        }
        if cached {
            if statements.count >= Self.cacheLimit {
                for old in statements.values { sqlite3_finalize(old) }
                statements.removeAll(keepingCapacity: true)
            }
            statements[sql] = statement
        }
        return statement
    }

    private func bind(_ value: SQLiteData, at index: Int32, to statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let n): sqlite3_bind_int64(statement, index, Int64(n))
        case .float(let d): sqlite3_bind_double(statement, index, d)
        case .text(let s): sqlite3_bind_text(statement, index, s, -1, transient)
        case .blob(let buffer):
            buffer.withUnsafeReadableBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient) }
        case .null: sqlite3_bind_null(statement, index)
        }
    }

    private func column(_ index: Int32, of statement: OpaquePointer) -> SQLiteData {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(Int(sqlite3_column_int64(statement, index)))
        case SQLITE_FLOAT: return .float(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, index) else { return .null }
            let count = Int(sqlite3_column_bytes(statement, index))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            if count > 0, let bytes = sqlite3_column_blob(statement, index) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: count))
            }
            return .blob(buffer)
        default: return .null
        }
    }

    private func check(_ rc: Int32) throws {
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    private func error(_ rc: Int32) -> SQLiteStoreError {
        guard let db else { return SQLiteStoreError(code: rc, message: String(cString: sqlite3_errstr(rc))) }
        return SQLiteStoreError(code: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)))
    }
}

/// A result's column names, shared by its rows, with the index of each (the first, for a name given twice).
final class SQLiteColumns: Sendable {
    let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
