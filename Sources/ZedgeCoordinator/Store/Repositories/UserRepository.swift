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
    /// Writes the user unless that would leave no ACTIVE ADMIN (409): demoting, locking or deactivating the
    /// last one would lock every operator out for good, since the bootstrap admin is made only for an empty
    /// users table. Concurrent changes of two admins cannot both pass. False when the row is gone or the user
    /// deleted (INACTIVE).
    func updateKeepingAnActiveAdmin(_ user: User) async throws -> Bool
    /// Holds the user's row for the rest of `tx` and reads it. Every issue, rotation and revocation of the
    /// user's refresh tokens, and its soft delete, take this lock first, so they run one after another.
    func lock(_ id: UUID, in tx: Transaction) async throws -> User?
    /// Soft-deletes the user (the seed's design note 3): status INACTIVE, its refresh tokens and API keys
    /// revoked, its group memberships removed, in one transaction under the user's row lock; its id stays in
    /// audit rows, instances and templates. 409 naming them while live objects refer to it
    /// (`SoftDeletes`), and 409 for the last ACTIVE ADMIN. False when there is no such live user.
    func deactivate(_ id: UUID, at date: Date) async throws -> Bool
}

public struct SQLUserRepository: UserRepository, SQLBackedStore {
    let base: SQLModelRepository<User>
    var sql: any SQLDatabase { base.database.sql }
    /// Users read by id, in memory (SQLite only); nil reads the database each time.
    let cache: GenerationCache<UUID, User>?

    /// With SQLite, users found by id are cached in memory (`GenerationCache`): one coordinator owns the file, and
    /// every change to `users` passes through here and invalidates the user once it has committed, so that a role
    /// change, a lock or a deletion applies to the user's very next call. Authenticating an API call
    /// (`Authenticator.principal`) then reads no row: on a quiet coordinator that read and its two thread hops were
    /// ~240 µs of the ~2.7 ms from a task's enqueue request to the agent's long-poll answer (issue #14 item 3).
    /// PostgreSQL may have several replicas, each changing users, so it reads each time.
    public init(database: Database) {
        base = SQLModelRepository(Tables.users, database: database)
        cache = database.engine == .sqlite ? GenerationCache(capacity: 100_000) : nil
    }

    /// The user with this id, from the cache when it holds it (the row as this process last wrote or read it).
    public func find(_ id: UUID) async throws -> User? {
        let (cached, generation) = cache?.lookup(id) ?? (nil, 0)
        if let cached { return cached }
        let found = try await base.find(id)
        if let found { cache?.store(found, for: id, readAt: generation) }
        return found
    }

    public func update(_ model: User) async throws -> Bool {
        defer { cache?.invalidate(model.id) }
        return try await base.update(model)
    }

    public func delete(_ id: UUID) async throws -> Bool {
        defer { cache?.invalidate(id) }
        return try await base.delete(id)
    }

    public func insert(_ user: User, passwordHash: String) async throws {
        defer { cache?.invalidate(user.id) }
        try await base.table.insert(user, secrets: [("password_hash", passwordHash)], on: sql)
    }

    public func credentials(username: String) async throws -> (user: User, passwordHash: String)? {
        guard let row = try await sql.select().column("*").from("users").where("username", .equal, username).first() else {
            return nil
        }
        return (try RowCodec.decode(User.self, from: row), try row.decode(column: "password_hash", as: String.self))
    }

    public func setPasswordHash(_ hash: String, for id: UUID) async throws {
        defer { cache?.invalidate(id) }
        try await sql.update("users").set("password_hash", to: hash).set("updated_at", to: Date())
            .where("id", .equal, id).run()
    }

    public func updateKeepingAnActiveAdmin(_ user: User) async throws -> Bool {
        // Invalidated whatever the outcome (here and below): a failed write may still have committed.
        defer { cache?.invalidate(user.id) }
        let table = base.table
        return try await base.database.transaction { tx in
            // The ACTIVE ADMIN rows are held (PostgreSQL) so that a concurrent demotion counts after this one.
            if tx.engine == .postgres {
                try await tx.db.raw("SELECT id FROM users WHERE role = 'ADMIN' AND status = 'ACTIVE' ORDER BY id FOR UPDATE").run()
            }
            // A user deleted (INACTIVE) since the caller read it stays deleted: writing the row back would revive it.
            try await tx.lock(table, user.id)
            guard let current = try await table.find(user.id, on: tx.db), current.status != .inactive else { return false }
            guard try await table.update(user, on: tx.db) else { return false }
            let admins = try await tx.db.raw("SELECT COUNT(*) AS n FROM users WHERE role = 'ADMIN' AND status = 'ACTIVE'")
                .first()?.decode(column: "n", as: Int.self) ?? 0
            guard admins > 0 else {
                throw DomainError.conflict(
                    "This is the last ACTIVE ADMIN: make another user an ACTIVE ADMIN first.",
                    field: user.role != .admin ? "role" : "status")
            }
            return true
        }
    }

    public func lock(_ id: UUID, in tx: Transaction) async throws -> User? {
        try await tx.lock(base.table, id)
        return try await base.table.find(id, on: tx.db)
    }

    public func deactivate(_ id: UUID, at date: Date) async throws -> Bool {
        defer { cache?.invalidate(id) }
        let table = base.table
        return try await base.database.transaction { tx in
            // The same order as `updateKeepingAnActiveAdmin` (the ACTIVE ADMIN rows, then the user's), so that
            // two admins deleting each other cannot both pass, and no two of these deadlock.
            if tx.engine == .postgres {
                try await tx.db.raw("SELECT id FROM users WHERE role = 'ADMIN' AND status = 'ACTIVE' ORDER BY id FOR UPDATE").run()
            }
            try await tx.lock(table, id)
            guard let user = try await table.find(id, on: tx.db), user.status != .inactive else { return false }
            if let conflict = try await SoftDeletes.conflict(deleting: id, from: table.name, resource: table.resource, on: tx.db) {
                throw conflict
            }
            try await tx.db.update("users").set("status", to: UserStatus.inactive.rawValue).set("updated_at", to: date)
                .where("id", .equal, id).run()
            let admins = try await tx.db.raw("SELECT COUNT(*) AS n FROM users WHERE role = 'ADMIN' AND status = 'ACTIVE'")
                .first()?.decode(column: "n", as: Int.self) ?? 0
            guard admins > 0 else {
                throw DomainError.conflict("This is the last ACTIVE ADMIN: make another user an ACTIVE ADMIN first.")
            }
            try await tx.db.update("refresh_tokens").set("revoked_at", to: date)
                .where("user_id", .equal, id).where("revoked_at", .is, SQLLiteral.null).run()
            try await tx.db.update("api_keys").set("revoked_at", to: date)
                .where("user_id", .equal, id).where("revoked_at", .is, SQLLiteral.null).run()
            try await tx.db.delete(from: "user_group_members").where("user_id", .equal, id).run()
            return true
        }
    }

    public func recordLogin(_ id: UUID, at date: Date) async throws {
        defer { cache?.invalidate(id) }
        try await sql.update("users").set("last_login_at", to: date).where("id", .equal, id).run()
    }
}
