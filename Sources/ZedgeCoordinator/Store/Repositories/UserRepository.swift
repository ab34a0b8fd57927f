import Foundation
import SQLKit
import ZedgeCore

/// Users and their password hashes. The hash never leaves this repository except to the password check.
public protocol UserRepository: ModelStore where Model == User {
    func insert(_ user: User, passwordHash: String) async throws
    /// The user and its hash, by username (case-sensitive; usernames are stored lowercase).
    func credentials(username: String) async throws -> (user: User, passwordHash: String)?
    func setPasswordHash(_ hash: String, for id: UUID) async throws
    func recordLogin(_ id: UUID, at date: Date) async throws
}

public struct SQLUserRepository: UserRepository, SQLBackedStore {
    let base: SQLModelRepository<User>
    var sql: any SQLDatabase { base.database.sql }

    public init(database: Database) {
        base = SQLModelRepository(Table("users"), database: database)
    }

    public func insert(_ user: User, passwordHash: String) async throws {
        try await base.table.insert(user, secrets: [("password_hash", passwordHash)], on: sql)
    }

    public func credentials(username: String) async throws -> (user: User, passwordHash: String)? {
        guard let row = try await sql.select().column("*").from("users").where("username", .equal, username).first() else {
            return nil
        }
        return (try RowCodec.decode(User.self, from: row), try row.decode(column: "password_hash", as: String.self))
    }

    public func setPasswordHash(_ hash: String, for id: UUID) async throws {
        try await sql.update("users").set("password_hash", to: hash).set("updated_at", to: Date())
            .where("id", .equal, id).run()
    }

    public func recordLogin(_ id: UUID, at date: Date) async throws {
        try await sql.update("users").set("last_login_at", to: date).where("id", .equal, id).run()
    }
}
