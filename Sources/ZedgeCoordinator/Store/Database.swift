@preconcurrency import AsyncKit
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import SQLKit
import SQLiteKit

/// Which SQL engine a store runs on; the few places where SQL differs ask this.
public enum DatabaseEngine: String, Sendable {
    case sqlite
    case postgres
}

/// The coordinator's database: SQLite (one file, WAL, one writer) or PostgreSQL, behind one `SQLDatabase`.
///
/// Open it with `Database.withDatabase(url:)`, which keeps the connection machinery running for exactly
/// the lifetime of the closure (structured, no detached tasks).
public struct Database: Sendable {
    public let engine: DatabaseEngine
    public let sql: any SQLDatabase

    /// The PostgreSQL client (for LISTEN/NOTIFY and session locks); nil with SQLite.
    public var postgres: PostgresClient? { (sql as? PostgresClientDatabase)?.client }

    /// Runs `body` with an open database and closes it afterwards.
    public static func withDatabase<T: Sendable>(
        url: String, logger: Logger, _ body: @Sendable (Database) async throws -> T
    ) async throws -> T {
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw ConfigurationError("database URL sqlite:// needs a path") }
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let loops = Array(PooledSQLiteDatabase.loops.makeIterator())
            let writerLoop = loops[0], readerLoop = loops[1]
            let pool = EventLoopConnectionPool(
                source: SQLiteFileSource(path: path, threadPool: PooledSQLiteDatabase.writerThreadPool), maxConnections: 1,
                requestTimeout: .seconds(30),
                logger: logger, on: writerLoop)
            let readers = EventLoopConnectionPool(
                source: SQLiteFileSource(path: path, readOnly: true), maxConnections: PooledSQLiteDatabase.readerCount,
                requestTimeout: .seconds(30), logger: logger, on: readerLoop)
            let database = Database(engine: .sqlite, sql: PooledSQLiteDatabase(pool: pool, readers: readers).sql(queryLogLevel: nil))
            do {
                let result = try await body(database)
                try await readers.close().get()
                try await pool.close().get()
                return result
            } catch {
                try? await readers.close().get()
                try? await pool.close().get()
                throw error
            }
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let client = try makePostgresClient(url: url, logger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    await client.run()
                    return nil
                }
                let database = Database(engine: .postgres, sql: PostgresClientDatabase(client: client, logger: logger))
                do {
                    let result = try await body(database)
                    group.cancelAll()
                    return result
                } catch {
                    group.cancelAll()
                    throw error
                }
            }
        } else {
            throw ConfigurationError("database URL must start with sqlite:// or postgres://")
        }
    }

    static func makePostgresClient(url: String, logger: Logger) throws -> PostgresClient {
        let core: PostgresConnection.Configuration
        do {
            core = try SQLPostgresConfiguration(url: url).coreConfiguration
        } catch {
            throw ConfigurationError("database URL is not a valid postgres:// URL")
        }
        guard let host = core.host, let port = core.port else {
            throw ConfigurationError("database URL needs a host and port")
        }
        let tls: PostgresClient.Configuration.TLS =
            core.tls.isEnforced ? .require(.makeClientConfiguration())
            : core.tls.isAllowed ? .prefer(.makeClientConfiguration()) : .disable
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: core.username, password: core.password,
            database: core.database, tls: tls)
        configuration.options.maximumConnections = 20
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled back when it
    /// throws. Inside, use only the `SQLDatabase` passed in. SQLite takes the write lock at BEGIN
    /// (IMMEDIATE), so read-then-write sequences inside cannot interleave.
    ///
    /// `foreignKeysOff` (SQLite only, for migrations that rebuild a table): the connection's foreign-key
    /// enforcement is off for the transaction and on again after it (SQLite ignores the pragma inside one).
    public func transaction<T: Sendable>(
        foreignKeysOff: Bool = false, _ body: @escaping @Sendable (Transaction) async throws -> T
    ) async throws -> T {
        let begin = engine == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN"
        let engine = self.engine
        let toggle = foreignKeysOff && engine == .sqlite
        return try await sql.withSession { session in
            if toggle { try await session.raw("PRAGMA foreign_keys = OFF").run() }
            do {
                try await session.raw(SQLQueryString(begin)).run()
                do {
                    let result = try await body(Transaction(db: session, engine: engine))
                    try await session.raw("COMMIT").run()
                    if toggle { try await session.raw("PRAGMA foreign_keys = ON").run() }
                    return result
                } catch {
                    try? await session.raw("ROLLBACK").run()
                    throw error
                }
            } catch {
                if toggle { try? await session.raw("PRAGMA foreign_keys = ON").run() }
                throw error
            }
        }
    }

    /// Answers whether the database responds (for /readyz).
    public func ping() async -> Bool {
        (try? await sql.raw("SELECT 1 AS ok").all().count) == 1
    }
}

/// Opens SQLite files with the pragmas Zedge relies on: WAL, foreign keys, a busy timeout, the file mapped into
/// memory (`mmap_size`: pages read without a `pread` each; 256 MiB of address space, shared with the page cache);
/// a reader's connection also refuses to write (`query_only`).
struct SQLiteFileSource: ConnectionPoolSource {
    let path: String
    var readOnly = false
    /// The threads that run the connection's SQLite calls.
    var threadPool: NIOThreadPool = .singleton

    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<SQLiteConnection> {
        let path = self.path, threadPool = self.threadPool
        return eventLoop.makeFutureWithTask {
            let connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
            do {
                for pragma in [
                    "PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 5000", "PRAGMA synchronous = NORMAL", "PRAGMA mmap_size = 268435456",
                ] + (readOnly ? ["PRAGMA query_only = ON"] : []) {
                    _ = try await connection.query(pragma, [])
                }
            } catch {
                try? await connection.close()
                throw error
            }
            return connection
        }
    }
}

/// SQLite as an `SQLiteDatabase`: one writer connection, which every write, every transaction and every session
/// (`withSession` gets it to itself) use, and a few reader connections for the SELECTs that run on their own.
/// In WAL mode readers never wait for the writer and see every transaction committed when they start, so a read
/// after a write (outside a transaction) sees it; the writer's time goes to writes (issue #14: with one connection
/// for everything, polls' and lookups' SELECTs queued behind creates).
struct PooledSQLiteDatabase: SQLiteDatabase {
    let pool: EventLoopConnectionPool<SQLiteFileSource>
    let readers: EventLoopConnectionPool<SQLiteFileSource>?
    var logger: Logger { pool.logger }
    var eventLoop: any EventLoop { pool.eventLoop }

    /// Reader connections, one per core and at least two (the thread pool that runs SQLite calls has as many threads
    /// as cores; with one reader, polls' and lookups' reads queued: 80 creates/s against 96 with two). Each holds
    /// three descriptors (the database, its WAL and its shared memory).
    static let readerCount = max(2, System.coreCount)

    /// The SQLite pools' own event loops, for the process's life (as NIO's singletons are), shared by every database
    /// it opens: the writer's pool on one, the readers' on the other. Each statement hops through its pool's loop
    /// twice; on the loops that also carry HTTPS it waited behind TLS work while it held the write lock.
    static let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// The writer's own thread for its SQLite calls, for the process's life: on the shared thread pool its statements
    /// waited behind the readers' while it held the write lock.
    static let writerThreadPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    init(pool: EventLoopConnectionPool<SQLiteFileSource>, readers: EventLoopConnectionPool<SQLiteFileSource>? = nil) {
        self.pool = pool
        self.readers = readers
    }

    func query(
        _ query: String, _ binds: [SQLiteData], logger: Logger,
        _ onRow: @escaping @Sendable (SQLiteRow) -> Void
    ) -> EventLoopFuture<Void> {
        let chosen = Self.isRead(query) ? readers ?? pool : pool
        return chosen.withConnection(logger: logger) { $0.query(query, binds, logger: logger, onRow) }
    }

    /// A statement that only reads: a plain SELECT (a WITH, a PRAGMA or anything else goes to the writer).
    static func isRead(_ query: String) -> Bool {
        let start = query.utf8.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }
        guard start.count > 6 else { return false }
        let word = start.prefix(6).map { $0 | 0x20 }  // ASCII lower case
        return word == Array("select".utf8) && [0x20, 0x0A, 0x09, 0x0D, 0x28].contains(start.dropFirst(6).first!)
    }

    func withConnection<T>(_ closure: @escaping @Sendable (SQLiteConnection) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        pool.withConnection(logger: logger) { closure($0) }
    }

    func withConnection<T: Sendable>(_ closure: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await pool.withConnection(logger: logger) { connection in
            connection.eventLoop.makeFutureWithTask { try await closure(connection) }
        }.get()
    }
}

/// postgres-nio's `PostgresClient` (the maintained pool) as an `SQLDatabase`.
struct PostgresClientDatabase: SQLDatabase {
    let client: PostgresClient
    let logger: Logger
    var eventLoop: any EventLoop { PostgresClient.defaultEventLoopGroup.any() }
    var dialect: any SQLDialect { PostgresDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await client.withConnection { try await $0.sql(queryLogLevel: nil).execute(sql: query, onRow) }
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { try await closure($0.sql(queryLogLevel: nil)) }
    }
}
