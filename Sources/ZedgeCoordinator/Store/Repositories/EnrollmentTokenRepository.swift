import Foundation
import SQLKit
import ZedgeCore

/// Enrollment tokens, found by the SHA-256 of the presented token; uses are spent atomically.
public protocol EnrollmentTokenRepository: ModelStore where Model == EnrollmentToken {
    func insert(_ token: EnrollmentToken, tokenHash: String) async throws
    func find(tokenHash: String) async throws -> EnrollmentToken?
    /// Spends one use if the token is live; false when another registration took the last one, or it
    /// expired or was revoked meanwhile.
    func consumeUse(_ id: UUID, now: Date) async throws -> Bool
}

public struct SQLEnrollmentTokenRepository: EnrollmentTokenRepository, SQLBackedStore {
    let base: SQLModelRepository<EnrollmentToken>
    var sql: any SQLDatabase { base.database.sql }

    public init(database: Database) {
        base = SQLModelRepository(Tables.enrollmentTokens, database: database)
    }

    public func insert(_ token: EnrollmentToken, tokenHash: String) async throws {
        try await base.table.insert(token, secrets: [("token_hash", tokenHash)], on: sql)
    }

    public func find(tokenHash: String) async throws -> EnrollmentToken? {
        try await sql.select().column("*").from("enrollment_tokens").where("token_hash", .equal, tokenHash).first()
            .map { try RowCodec.decode(EnrollmentToken.self, from: $0) }
    }

    public func consumeUse(_ id: UUID, now: Date) async throws -> Bool {
        try await sql.update("enrollment_tokens")
            .set("uses_left", to: SQLBinaryExpression(SQLIdentifier("uses_left"), SQLBinaryOperator.subtract, SQLLiteral.numeric("1")))
            .where("id", .equal, id)
            .where("uses_left", .greaterThan, 0)
            .where("revoked_at", .is, SQLLiteral.null)
            .where("expires_at", .greaterThan, now)
            .returning("id").all().count == 1
    }
}
