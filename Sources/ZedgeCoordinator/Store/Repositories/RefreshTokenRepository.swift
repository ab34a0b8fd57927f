import Foundation
import SQLKit
import ZedgeCore

/// Refresh tokens in rotation families.
public protocol RefreshTokenRepository: Sendable {
    func insert(_ token: RefreshToken, tokenHash: String) async throws
    /// Atomically marks the token used if it is live; returns it then. Exactly one of two concurrent
    /// callers gets it.
    func consume(tokenHash: String, now: Date) async throws -> RefreshToken?
    func find(tokenHash: String) async throws -> RefreshToken?
    /// Revokes every token of a family (reuse detected, or logout).
    func revokeFamily(_ familyId: UUID, at date: Date) async throws
}

public struct SQLRefreshTokenRepository: RefreshTokenRepository {
    let table = Table<RefreshToken>("refresh_tokens")
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ token: RefreshToken, tokenHash: String) async throws {
        try await table.insert(token, secrets: [("token_hash", tokenHash)], on: database.sql)
    }

    public func consume(tokenHash: String, now: Date) async throws -> RefreshToken? {
        let rows = try await database.sql.update("refresh_tokens")
            .set("used_at", to: now)
            .where("token_hash", .equal, tokenHash)
            .where("used_at", .is, SQLLiteral.null)
            .where("revoked_at", .is, SQLLiteral.null)
            .where("expires_at", .greaterThan, now)
            .returning(SQLLiteral.all)
            .all()
        return try rows.first.map { try RowCodec.decode(RefreshToken.self, from: $0) }
    }

    public func find(tokenHash: String) async throws -> RefreshToken? {
        try await database.sql.select().column("*").from("refresh_tokens").where("token_hash", .equal, tokenHash).first()
            .map { try RowCodec.decode(RefreshToken.self, from: $0) }
    }

    public func revokeFamily(_ familyId: UUID, at date: Date) async throws {
        try await database.sql.update("refresh_tokens").set("revoked_at", to: date)
            .where("family_id", .equal, familyId).where("revoked_at", .is, SQLLiteral.null).run()
    }
}
