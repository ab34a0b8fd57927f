import Foundation
import Logging
import SQLKit

/// One step of the schema, applied once, in order, inside a transaction.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// The statements for an engine, one SQL statement each (SQLite runs only the first statement of a
    /// string).
    public let statements: @Sendable (DatabaseEngine) -> [String]
    /// The tables and foreign keys its schema builder declared (a foreign key written as raw SQL is not
    /// here, and `DeleteWithChildrenReferenceTableTests` fails).
    let declared: DeclaredSchema
    /// SQLite only: the migration rebuilds a table (create a copy, copy the rows, drop, rename: SQLite's one way
    /// to drop a constraint), so it runs with foreign-key enforcement off, which keeps the DROP from cascading
    /// to the children, and checks every foreign key before it commits.
    let rebuildsTables: Bool

    public init(version: Int, name: String, statements: @escaping @Sendable (DatabaseEngine) -> [String]) {
        self.init(version: version, name: name, declared: DeclaredSchema(), statements: statements)
    }

    init(version: Int, name: String, declared: DeclaredSchema, rebuildsTables: Bool = false,
         statements: @escaping @Sendable (DatabaseEngine) -> [String]) {
        self.version = version
        self.name = name
        self.declared = declared
        self.rebuildsTables = rebuildsTables
        self.statements = statements
    }
}

/// A migration that cannot be applied as written.
enum MigrationError: Error, CustomStringConvertible {
    case foreignKeysBroken(version: Int, rows: Int)

    var description: String {
        switch self {
        case .foreignKeysBroken(let version, let rows):
            "migration \(version) would leave \(rows) row(s) referring to rows that do not exist; nothing was changed"
        }
    }
}

/// Applies the ordered migrations that a database has not seen yet. Safe to run from several
/// coordinators at once on PostgreSQL (an advisory lock serialises them).
public struct Migrator: Sendable {
    public let migrations: [Migration]

    public init(migrations: [Migration] = Migrator.all) {
        precondition(
            zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version },
            "migrations must be in increasing version order")
        self.migrations = migrations
    }

    /// Every migration of the coordinator, in order.
    public static let all: [Migration] = [SchemaV1.migration, SchemaV2.migration, SchemaV3.migration, SchemaV4.migration, SchemaV5.migration, SchemaV6.migration, SchemaV7.migration, SchemaV8.migration, SchemaV9.migration, SchemaV10.migration, SchemaV11.migration, SchemaV12.migration]

    /// Applies what is pending; returns the versions applied.
    @discardableResult
    public func migrate(_ database: Database, logger: Logger) async throws -> [Int] {
        let timestamp = database.engine == .sqlite ? "REAL" : "TIMESTAMPTZ"
        try await database.sql.raw("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at \(unsafeRaw: timestamp) NOT NULL)
            """).run()
        var applied: [Int] = []
        for migration in migrations {
            let didApply = try await database.transaction(foreignKeysOff: migration.rebuildsTables) { tx in
                let db = tx.db
                if database.engine == .postgres {
                    try await db.raw("SELECT pg_advisory_xact_lock(7365616)").run()
                }
                let done = try await db.select().column("version").from("schema_migrations")
                    .where("version", .equal, migration.version).all()
                guard done.isEmpty else { return false }
                for statement in migration.statements(database.engine) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                if migration.rebuildsTables, database.engine == .sqlite {
                    let broken = try await db.raw("PRAGMA foreign_key_check").all()
                    if !broken.isEmpty { throw MigrationError.foreignKeysBroken(version: migration.version, rows: broken.count) }
                }
                try await db.insert(into: "schema_migrations")
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Date()))
                    .run()
                return true
            }
            if didApply {
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }
}

/// Column types per engine. JSON columns are TEXT on both engines: Zedge does not query inside them, and one
/// representation keeps the row codec identical on SQLite and PostgreSQL.
public struct ColumnTypes: Sendable {
    public let uuid: String
    public let timestamp: String
    public let integer: String
    public let double: String
    public let bool: String
    public let text: String
    public let json: String

    public init(_ engine: DatabaseEngine) {
        switch engine {
        case .sqlite:
            uuid = "TEXT"; timestamp = "REAL"; integer = "INTEGER"; double = "REAL"; bool = "INTEGER"
            text = "TEXT"; json = "TEXT"
        case .postgres:
            uuid = "UUID"; timestamp = "TIMESTAMPTZ"; integer = "BIGINT"; double = "DOUBLE PRECISION"
            bool = "BOOLEAN"; text = "TEXT"; json = "TEXT"
        }
    }
}
