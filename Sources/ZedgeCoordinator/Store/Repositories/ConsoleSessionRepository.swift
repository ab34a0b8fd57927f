import Foundation
import SQLKit
import ZedgeCore

/// The rows of console sessions (`console_sessions`, SchemaV10): shared by every replica, so a token issued by
/// one is spent, once, by a WebSocket that reaches any of them.
public protocol ConsoleSessionRepository: Sendable {
    func insert(_ session: ConsoleSession, tokenHash: String) async throws
    /// Spends the token: the session whose token hashes to `tokenHash`, if it was unspent and had not expired at
    /// `now` (then marked used, in one conditional UPDATE: two WebSockets never both win). Otherwise why not.
    func spend(tokenHash: String, now: Date) async throws -> ConsoleSpend
    /// What `spend` would come to, without spending anything (`.spent` for a token that is still good).
    func peek(tokenHash: String, now: Date) async throws -> ConsoleSpend
    /// Marks the session's tunnel closed.
    func end(_ id: UUID, at: Date) async throws
    /// The box's sessions that have not ended (bound, connected or not).
    func open(cloudBoxId: UUID) async throws -> [ConsoleSession]
    func find(_ id: UUID) async throws -> ConsoleSession?
    /// Deletes sessions whose token expired before `cutoff` unspent, or that ended before it; returns how many.
    @discardableResult
    func prune(before cutoff: Date) async throws -> Int
}

/// What presenting a console token came to.
public enum ConsoleSpend: Sendable, Equatable {
    case spent(ConsoleSession)
    /// No session has this token.
    case unknown
    /// The token's session, spent before.
    case alreadyUsed(ConsoleSession)
    /// The token's session, unspent past its expiry.
    case expired(ConsoleSession)
}

public struct SQLConsoleSessionRepository: ConsoleSessionRepository {
    let database: Database
    static let table = "console_sessions"
    static let columns = ["id", "instance_id", "compute_machine_id", "tenant_id", "user_id", "cloud_box_id", "type", "vm_uuid",
                          "vm_name", "created_at", "expires_at", "used_at", "ended_at"]

    public init(database: Database) { self.database = database }

    public func insert(_ s: ConsoleSession, tokenHash: String) async throws {
        try await database.sql.insert(into: Self.table)
            .columns(Self.columns + ["token_hash"])
            .values(SQLBind(s.id), SQLBind(s.instanceId), SQLBind(s.computeMachineId), SQLBind(s.tenantId), SQLBind(s.userId),
                    SQLBind(s.cloudBoxId), SQLBind(s.type.rawValue), SQLBind(s.vmUuid.uuidString.lowercased()), SQLBind(s.vmName), SQLBind(s.createdAt),
                    SQLBind(s.expiresAt), SQLBind(s.usedAt), SQLBind(s.endedAt), SQLBind(tokenHash))
            .run()
    }

    public func spend(tokenHash: String, now: Date) async throws -> ConsoleSpend {
        let won = try await database.sql.update(Self.table).set("used_at", to: SQLBind(now))
            .where("token_hash", .equal, tokenHash).where("used_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, now)
            .returning(Self.columns.map { SQLColumn($0) }).first()
        if let won { return .spent(try Self.session(won)) }
        let state = try await peek(tokenHash: tokenHash, now: now)
        if case .spent(let session) = state { return .alreadyUsed(session) }  // spent between the UPDATE and this read
        return state
    }

    public func peek(tokenHash: String, now: Date) async throws -> ConsoleSpend {
        guard let row = try await database.sql.select().columns(Self.columns.map { SQLColumn($0) }).from(Self.table)
            .where("token_hash", .equal, tokenHash).first() else { return .unknown }
        let session = try Self.session(row)
        if session.usedAt != nil { return .alreadyUsed(session) }
        return session.expiresAt > now ? .spent(session) : .expired(session)
    }

    public func end(_ id: UUID, at: Date) async throws {
        try await database.sql.update(Self.table).set("ended_at", to: SQLBind(at)).where("id", .equal, id).run()
    }

    public func open(cloudBoxId: UUID) async throws -> [ConsoleSession] {
        try await database.sql.select().columns(Self.columns.map { SQLColumn($0) }).from(Self.table)
            .where("cloud_box_id", .equal, cloudBoxId).where("ended_at", .is, SQLLiteral.null).all().map(Self.session)
    }

    public func find(_ id: UUID) async throws -> ConsoleSession? {
        try await database.sql.select().columns(Self.columns.map { SQLColumn($0) }).from(Self.table).where("id", .equal, id)
            .first().map(Self.session)
    }

    public func prune(before cutoff: Date) async throws -> Int {
        try await database.sql.delete(from: Self.table)
            .where { $0.where("used_at", .is, SQLLiteral.null).where("expires_at", .lessThan, cutoff) }
            .orWhere("ended_at", .lessThan, cutoff)
            .returning("id").all().count
    }

    static func session(_ row: any SQLRow) throws -> ConsoleSession {
        guard let type = ConsoleType(rawValue: try row.decode(column: "type", as: String.self)),
              let vmUuid = UUID(uuidString: try row.decode(column: "vm_uuid", as: String.self)) else {
            throw DomainError.conflict("A console session row is malformed.")
        }
        return ConsoleSession(
            id: try row.decode(column: "id", as: UUID.self), instanceId: try row.decode(column: "instance_id", as: UUID.self),
            computeMachineId: try row.decode(column: "compute_machine_id", as: UUID.self),
            tenantId: try row.decode(column: "tenant_id", as: UUID.self), userId: try row.decode(column: "user_id", as: UUID?.self),
            cloudBoxId: try row.decode(column: "cloud_box_id", as: UUID?.self),
            type: type, vmUuid: vmUuid, vmName: try row.decode(column: "vm_name", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), expiresAt: try row.decode(column: "expires_at", as: Date.self),
            usedAt: try row.decode(column: "used_at", as: Date?.self), endedAt: try row.decode(column: "ended_at", as: Date?.self))
    }
}
