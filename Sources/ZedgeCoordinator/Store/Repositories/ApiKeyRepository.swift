import Foundation
import SQLKit
import ZedgeCore

/// API keys, found by the SHA-256 of the presented key.
public protocol ApiKeyRepository: ModelStore where Model == ApiKey {
    func insert(_ key: ApiKey, keyHash: String) async throws
    func find(keyHash: String) async throws -> ApiKey?
    /// Sets lastUsedAt (coalesced by the caller; not on every request).
    func touch(_ id: UUID, at date: Date) async throws
}

public struct SQLApiKeyRepository: ApiKeyRepository, SQLBackedStore {
    let base: SQLModelRepository<ApiKey>
    var sql: any SQLDatabase { base.database.sql }

    public init(database: Database) {
        base = SQLModelRepository(Table("api_keys"), database: database)
    }

    public func insert(_ key: ApiKey, keyHash: String) async throws {
        try await base.table.insert(key, secrets: [("key_hash", keyHash)], on: sql)
    }

    public func find(keyHash: String) async throws -> ApiKey? {
        try await sql.select().column("*").from("api_keys").where("key_hash", .equal, keyHash).first()
            .map { try RowCodec.decode(ApiKey.self, from: $0) }
    }

    public func touch(_ id: UUID, at date: Date) async throws {
        try await sql.update("api_keys").set("last_used_at", to: date).where("id", .equal, id).run()
    }
}
