import Foundation
import SQLKit

/// One open database transaction as services see it: they pass it from repository call to repository call
/// and never look inside. Committed when the closure that received it returns, rolled back when it throws.
public struct Transaction: Sendable {
    let db: any SQLDatabase
    let engine: DatabaseEngine

    /// Holds the row for the rest of the transaction, so that read-check-write sequences on it run one after
    /// another (`SELECT … FOR UPDATE` on PostgreSQL; SQLite transactions already hold its one write lock).
    func lock<Model>(_ table: Table<Model>, _ id: UUID) async throws {
        guard engine == .postgres else { return }
        try await db.raw("SELECT id FROM \(ident: table.name) WHERE id = \(bind: id) FOR UPDATE").run()
    }
}

/// Opens transactions (the only door services have to one).
public struct Transactions: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Runs `body` in one transaction; see `Database.transaction` (`brief`: a few statements, never a batch).
    public func run<T: Sendable>(brief: Bool = false, _ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        try await database.transaction(brief: brief, body)
    }
}

/// Repositories read on the transaction when given one, else on the pool.
protocol DatabaseBacked {
    var database: Database { get }
}

extension DatabaseBacked {
    func db(_ tx: Transaction?) -> any SQLDatabase { tx?.db ?? database.sql }
}
