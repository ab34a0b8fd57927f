import Foundation
import SQLKit
import ZedgeCore

/// Refresh tokens in rotation families. A family is revoked as a whole (reuse detected, logout, the user
/// deleted), so "some token of the family is revoked" is the family's revocation. Rotation and revocation
/// run inside transactions that hold the user's row (`UserRepository.lock`); see `AuthService.refresh`.
public protocol RefreshTokenRepository: Sendable {
    func insert(_ token: RefreshToken, tokenHash: String, in tx: Transaction) async throws
    /// The token by the SHA-256 of its secret, on `tx` when given (after a lock: the committed state).
    func find(tokenHash: String, in tx: Transaction?) async throws -> RefreshToken?
    /// Marks the token used if it is unused and unrevoked; false otherwise.
    func markUsed(_ id: UUID, at date: Date, in tx: Transaction) async throws -> Bool
    /// Whether the family has been revoked (any of its tokens is).
    func isFamilyRevoked(_ familyId: UUID, in tx: Transaction) async throws -> Bool
    /// Revokes every token of a family, used ones included.
    func revokeFamily(_ familyId: UUID, at date: Date, in tx: Transaction) async throws
}

public struct SQLRefreshTokenRepository: RefreshTokenRepository {
    let table = Tables.refreshTokens
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ token: RefreshToken, tokenHash: String, in tx: Transaction) async throws {
        try await table.insert(token, secrets: [("token_hash", tokenHash)], on: tx.db)
    }

    public func find(tokenHash: String, in tx: Transaction?) async throws -> RefreshToken? {
        try await (tx?.db ?? database.sql).select().column("*").from("refresh_tokens").where("token_hash", .equal, tokenHash).first()
            .map { try RowCodec.decode(RefreshToken.self, from: $0) }
    }

    public func markUsed(_ id: UUID, at date: Date, in tx: Transaction) async throws -> Bool {
        try await tx.db.update("refresh_tokens")
            .set("used_at", to: date)
            .where("id", .equal, id)
            .where("used_at", .is, SQLLiteral.null)
            .where("revoked_at", .is, SQLLiteral.null)
            .returning("id")
            .all().count == 1
    }

    public func isFamilyRevoked(_ familyId: UUID, in tx: Transaction) async throws -> Bool {
        try await tx.db.select().column("id").from("refresh_tokens")
            .where("family_id", .equal, familyId).where("revoked_at", .isNot, SQLLiteral.null)
            .limit(1).first() != nil
    }

    public func revokeFamily(_ familyId: UUID, at date: Date, in tx: Transaction) async throws {
        try await tx.db.update("refresh_tokens").set("revoked_at", to: date)
            .where("family_id", .equal, familyId).where("revoked_at", .is, SQLLiteral.null).run()
    }
}
