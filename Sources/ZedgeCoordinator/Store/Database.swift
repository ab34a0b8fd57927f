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
    /// `sql` for reads of one row by its key, or of a few by an index (a host's queued tasks, at most a poll's worth):
    /// with SQLite they run on the caller's thread, without the hops to a pool thread and back
    /// (`SQLiteStore.PointReads`); with PostgreSQL it is `sql`. Not for scans or lists.
    public let pointReads: any SQLDatabase

    public init(engine: DatabaseEngine, sql: any SQLDatabase) {
        self.engine = engine
        self.sql = sql
        pointReads = (sql as? SQLiteStore)?.pointReads ?? sql
    }

    /// The PostgreSQL client (for LISTEN/NOTIFY and session locks); nil with SQLite.
    public var postgres: PostgresClient? { (sql as? PostgresClientDatabase)?.client }

    /// How much SQLite's writer has been used (`SQLiteWriterUse`); nil with PostgreSQL.
    public var sqliteWriterUse: SQLiteWriterUse? { (sql as? SQLiteStore)?.writerUse }

    /// Runs `body` with an open database and closes it afterwards.
    public static func withDatabase<T: Sendable>(
        url: String, logger: Logger, _ body: @Sendable (Database) async throws -> T
    ) async throws -> T {
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw ConfigurationError("database URL sqlite:// needs a path") }
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let profilePath = ProcessInfo.processInfo.environment["ZEDGE_SQLITE_STATEMENT_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
            let profile = profilePath.map { _ in SQLiteStatementProfile() }
            let store = try SQLiteStore(path: path, logger: logger, statementProfile: profile)
            let database = Database(engine: .sqlite, sql: store)
            let result: Result<T, any Error>
            do { result = .success(try await body(database)) } catch { result = .failure(error) }
            await store.close()
            if let profile, let profilePath {
                do {
                    try profile.text.write(toFile: profilePath, atomically: true, encoding: .utf8)
                    logger.notice("wrote the SQLite writer's statement profile", metadata: ["path": "\(profilePath)"])
                } catch {
                    logger.warning("cannot write the SQLite writer's statement profile", metadata: ["path": "\(profilePath)", "error": "\(error)"])
                }
            }
            return try result.get()
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let client = try makePostgresClient(url: url, logger: logger)
            // Not a child task: a pool whose run does not end must not keep its caller (a stopping coordinator)
            // waiting for ever (`awaitPoolClose`).
            let running = Task { await client.run() }
            let database = Database(engine: .postgres, sql: PostgresClientDatabase(client: client, logger: logger))
            let result: Result<T, any Error>
            do { result = .success(try await body(database)) } catch { result = .failure(error) }
            running.cancel()
            await awaitPoolClose(running, logger: logger)
            return try result.get()
        } else {
            throw ConfigurationError("database URL must start with sqlite:// or postgres://")
        }
    }

    /// How long closing the PostgreSQL pool may take before `withDatabase` logs that it is still waiting. Closing
    /// takes milliseconds alone; in CI, with a hundred test coordinators starting at once on 2 cores, about a
    /// hundred closes took over 10 s (and all ended), so the line says only what is out of the ordinary.
    static let poolCloseWarning: Duration = .seconds(30)

    /// How long closing the pool may take in all: past it, `withDatabase` returns without it, logging an error.
    /// Seen once in CI (session 31): a test coordinator's pool never ended its `run()` after a stop, with no
    /// connection left open, and the run hung until its watchdog (postgres-nio 1.33.2; its issue #599 reports
    /// pools that retry connecting through a shutdown). A stopping coordinator is then about to exit: waiting
    /// for ever would only keep it from exiting.
    static let poolCloseLimit: Duration = .seconds(120)

    /// Waits until `running` (the pool's `run()`) ends: a warning after `warning`, and after `limit` an error, and
    /// it returns while the pool's task is left behind. A cancelled caller returns at once (the pool has been
    /// told to close; nothing is waited for).
    static func awaitPoolClose(_ running: Task<Void, Never>, warning: Duration = poolCloseWarning, limit: Duration = poolCloseLimit,
                               logger: Logger) async {
        let (outcome, report) = AsyncStream.makeStream(of: Bool.self)  // true: closed; false: the limit passed
        Task {
            await running.value
            report.yield(true)
        }
        let timer = Task {
            guard (try? await Task.sleep(for: warning)) != nil else { return }
            logger.warning("the PostgreSQL connection pool has not closed its connections after \(warning); still waiting")
            guard (try? await Task.sleep(for: limit - warning)) != nil else { return }
            report.yield(false)
        }
        var iterator = outcome.makeAsyncIterator()
        let closed = await iterator.next()
        timer.cancel()
        if closed == false {
            logger.error("the PostgreSQL connection pool has not closed after \(limit); leaving it behind")
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
    ///
    /// `snapshot` (PostgreSQL): REPEATABLE READ, so that every statement sees the one snapshot the first one took.
    /// PostgreSQL's default, READ COMMITTED, gives each statement its own
    /// (https://www.postgresql.org/docs/current/transaction-iso.html): two reads compared with each other while
    /// others commit can disagree although every commit kept them equal. A SQLite transaction holds the one writer,
    /// so nothing commits during it.
    ///
    /// `brief`: `body` is a few statements (one plan, one task), never a batch: with SQLite it may then run on the
    /// caller's thread when the writer is free (`SQLiteStore.groupedTransaction`). PostgreSQL ignores it.
    public func transaction<T: Sendable>(
        foreignKeysOff: Bool = false, snapshot: Bool = false, brief: Bool = false, _ body: @escaping @Sendable (Transaction) async throws -> T
    ) async throws -> T {
        let begin = engine == .sqlite ? "BEGIN IMMEDIATE" : snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN"
        let engine = self.engine
        let toggle = foreignKeysOff && engine == .sqlite
        if engine == .sqlite, !foreignKeysOff, let store = sql as? SQLiteStore {
            // Group commit (`SQLiteWriteGroup`): a savepoint of the writer's shared transaction.
            return try await store.groupedTransaction(brief: brief) { session in try await body(Transaction(db: session, engine: engine)) }
        }
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
