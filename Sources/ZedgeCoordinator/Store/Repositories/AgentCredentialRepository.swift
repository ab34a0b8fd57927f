import Foundation
import SQLKit
import ZedgeCore

/// Agent credentials: one live credential per machine or CloudBox.
public protocol AgentCredentialRepository: ModelStore where Model == AgentCredential {
    func insert(_ credential: AgentCredential, secretHash: String) async throws
    func find(secretHash: String) async throws -> AgentCredential?
    /// Revokes every live credential of a machine or CloudBox.
    func revokeAll(computeMachineId: UUID?, cloudBoxId: UUID?, at date: Date) async throws
    func touch(_ id: UUID, at date: Date) async throws
}

public struct SQLAgentCredentialRepository: AgentCredentialRepository, SQLBackedStore {
    let base: SQLModelRepository<AgentCredential>
    var sql: any SQLDatabase { base.database.sql }
    /// Live credentials in memory (SQLite only: see `AgentCredentialCache`); nil reads the database each time.
    let cache: AgentCredentialCache?

    /// With SQLite, found credentials are cached in memory: one coordinator owns the file, so every
    /// revocation passes through here. PostgreSQL may have several replicas, so it reads each time.
    public init(database: Database) {
        base = SQLModelRepository(Tables.agentCredentials, database: database)
        cache = database.engine == .sqlite ? AgentCredentialCache() : nil
    }

    public func insert(_ credential: AgentCredential, secretHash: String) async throws {
        try await base.table.insert(credential, secrets: [("secret_hash", secretHash)], on: sql)
    }

    /// The credential with this hash. A cached one is returned as it was read (its `lastUsedAt` may be
    /// older than the row's); it is live, since revocations invalidate the cache.
    public func find(secretHash: String) async throws -> AgentCredential? {
        let (cached, generation) = cache?.lookup(secretHash) ?? (nil, 0)
        if let cached { return cached }
        let found = try await sql.select().column("*").from("agent_credentials").where("secret_hash", .equal, secretHash).first()
            .map { try RowCodec.decode(AgentCredential.self, from: $0) }
        if let found { cache?.store(found, secretHash: secretHash, readAt: generation) }
        return found
    }

    public func revokeAll(computeMachineId: UUID?, cloudBoxId: UUID?, at date: Date) async throws {
        var query = sql.update("agent_credentials").set("revoked_at", to: date).where("revoked_at", .is, SQLLiteral.null)
        if let computeMachineId { query = query.where("compute_machine_id", .equal, computeMachineId) }
        else if let cloudBoxId { query = query.where("cloud_box_id", .equal, cloudBoxId) }
        else { return }
        // Invalidated whatever the write's outcome: a failed write may still have committed.
        defer { cache?.invalidate(computeMachineId: computeMachineId, cloudBoxId: cloudBoxId) }
        try await query.run()
    }

    public func update(_ model: AgentCredential) async throws -> Bool {
        defer { cache?.invalidateAll() }
        return try await base.update(model)
    }

    public func delete(_ id: UUID) async throws -> Bool {
        defer { cache?.invalidateAll() }
        return try await base.delete(id)
    }

    public func touch(_ id: UUID, at date: Date) async throws {
        try await sql.update("agent_credentials").set("last_used_at", to: date).where("id", .equal, id).run()
    }
}
