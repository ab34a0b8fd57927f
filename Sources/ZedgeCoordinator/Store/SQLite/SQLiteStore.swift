import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import Synchronization

/// The coordinator's SQLite file as an `SQLDatabase`: one writer connection and reader connections, over the
/// system's libsqlite3 with prepared statements kept per connection (`SQLiteHandle`).
///
/// Why not SQLiteNIO's connections (issue #14): SQLite has one writer, and a transaction holds it from BEGIN to
/// COMMIT. Through SQLiteNIO each of its statements went to a thread pool and back and then waited for a
/// cooperative thread to resume the transaction on: ~200 µs a statement with creates in flight, ten times what
/// SQLite took, and the writer was held that long. Here the writer's statements run on the caller's thread, one
/// caller at a time (`WriterLock`, FIFO): a transaction's statements follow each other without a hop. They are
/// short (WAL, `synchronous = NORMAL`: no fsync but at checkpoints). Reads are a plain SELECT outside a transaction
/// (`isRead`); they run on NIO's blocking-I/O thread pool on reader connections (`query_only`), beside the writer (in
/// WAL mode readers never wait for it and see every transaction committed when they start).
///
/// One SQLite library per file and process: POSIX locks are per process, so two copies of SQLite in one process
/// would not see each other's locks. Every connection to the coordinator's file is made here.
///
/// `@unchecked Sendable`: a wrapper of C handles (DESIGN §8). The writer's handle is used only by the holder of
/// `writerLock`; a reader's only by the thread that took it from `idleReaders` (a `Mutex`).
final class SQLiteStore: SQLDatabase, @unchecked Sendable {
    let path: String
    let logger: Logger
    private let writer: SQLiteHandle
    let checkpointer: SQLiteCheckpointer
    private let writerLock = WriterLock()
    private let idleReaders = Mutex<[SQLiteHandle]>([])
    private let threadPool: NIOThreadPool
    static let encoder = SQLiteDataEncoder()

    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    /// Opens (creating it) the file at `path`; the WAL is checkpointed off the writer once it passes
    /// `checkpointPages` pages (`SQLiteCheckpointer`). Throws `SQLiteStoreError` when it cannot.
    init(path: String, logger: Logger, threadPool: NIOThreadPool = .singleton, checkpointPages: Int = 1000) throws {
        self.path = path
        self.logger = logger
        self.threadPool = threadPool
        writer = try SQLiteHandle(path: path, readOnly: false)
        checkpointer = try SQLiteCheckpointer(path: path, pages: checkpointPages, threadPool: threadPool, logger: logger)
        writer.handCheckpoints(to: checkpointer)
    }

    /// Whether the current task holds the writer (in a session): a write it makes outside the session would wait
    /// for itself.
    @TaskLocal static var holdsWriter = false

    /// A statement that only reads: a plain SELECT (a WITH, a PRAGMA or anything else goes to the writer).
    static func isRead(_ query: String) -> Bool {
        let start = query.utf8.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }
        guard start.count > 6 else { return false }
        let word = start.prefix(6).map { $0 | 0x20 }  // ASCII lower case
        return word == Array("select".utf8) && [0x20, 0x0A, 0x09, 0x0D, 0x28].contains(start.dropFirst(6).first!)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = try encode(query)
        if Self.isRead(sql) {
            try await read(sql, binds, onRow)
        } else {
            if Self.holdsWriter {
                throw SQLiteStoreError(code: 5, message: "a write outside the transaction that holds SQLite's writer would wait for it: \(sql)")
            }
            await writerLock.lock()
            defer { writerLock.unlock() }
            try writer.run(sql, binds) { onRow(SQLiteStoreRow(columns: $0, values: $1)) }
        }
    }

    /// The writer to this task alone for `closure` (its statements all go to it, reads included).
    /// - Throws: `SQLiteStoreError` at once when this task already holds the writer (a transaction opened inside
    ///   another would wait for itself, and every write of the process behind it).
    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        if Self.holdsWriter {
            throw SQLiteStoreError(code: 5, message: "a transaction opened inside the transaction that holds SQLite's writer would wait for it")
        }
        await writerLock.lock()
        defer { writerLock.unlock() }
        return try await Self.$holdsWriter.withValue(true) {
            try await closure(Session(store: self))
        }
    }

    /// Closes the writer, the checkpointer and the idle readers (a reader in use closes when its last read ends); statements after
    /// this fail.
    func close() async {
        await writerLock.lock()
        defer { writerLock.unlock() }
        writer.close()
        checkpointer.close()
        idleReaders.withLock { $0.removeAll() }
    }

    func encode(_ query: any SQLExpression) throws -> (String, [SQLiteData]) {
        let (sql, binds) = serialize(query)
        return (sql, try binds.map { try Self.encoder.encode($0) })
    }

    private func read(_ sql: String, _ binds: [SQLiteData], _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await threadPool.runIfActive { try self.readOnReader(sql, binds, onRow) }
    }

    /// On a thread of the pool: an idle reader connection (a new one when none is idle: at most one per thread).
    private func readOnReader(_ sql: String, _ binds: [SQLiteData], _ onRow: (any SQLRow) -> Void) throws {
        let reader = try idleReaders.withLock { $0.popLast() } ?? SQLiteHandle(path: path, readOnly: true)
        defer { idleReaders.withLock { $0.append(reader) } }
        try reader.run(sql, binds) { onRow(SQLiteStoreRow(columns: $0, values: $1)) }
    }

    /// The writer, held by one task for a transaction or another sequence of statements.
    struct Session: SQLDatabase {
        let store: SQLiteStore
        var logger: Logger { store.logger }
        var eventLoop: any EventLoop { store.eventLoop }
        var dialect: any SQLDialect { store.dialect }
        var queryLogLevel: Logger.Level? { nil }

        func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
            eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
        }

        func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
            let (sql, binds) = try store.encode(query)
            try store.writer.run(sql, binds) { onRow(SQLiteStoreRow(columns: $0, values: $1)) }
        }

        func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
            try await closure(self)
        }
    }
}

/// A mutual exclusion for async callers, first come first served: `lock()` suspends (never blocks a thread) until
/// the holder calls `unlock()`.
final class WriterLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var next = 0
    }
    private let state = Mutex(State())

    func lock() async {
        let acquired = state.withLock { state -> Bool in
            guard state.held else {
                state.held = true
                return true
            }
            return false
        }
        if acquired { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                guard state.held else {
                    state.held = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the lock to the longest waiter, or frees it.
    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.next < state.waiters.count else {
                state.waiters.removeAll(keepingCapacity: true)
                state.next = 0
                state.held = false
                return nil
            }
            let waiter = state.waiters[state.next]
            state.next += 1
            if state.next >= 64 {  // the resumed ones leave the array now and then, not one by one
                state.waiters.removeFirst(state.next)
                state.next = 0
            }
            return waiter
        }
        next?.resume()
    }
}
