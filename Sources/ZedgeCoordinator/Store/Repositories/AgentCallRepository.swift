import Foundation
import SQLKit
import ZedgeCore

/// The rows of agent calls (`agent_calls`): questions for one compute machine's agent that a user waits on.
/// Shared by every replica, so the replica holding the agent's long-poll hands out a call that another
/// replica's API request created.
public protocol AgentCallRepository: Sendable {
    /// Stores a PENDING call and, with PostgreSQL, wakes the host's long-poll on every replica.
    func insert(_ call: AgentCall, computeMachineId: UUID, now: Date) async throws
    /// The host's PENDING calls that have not expired, marked DELIVERED (each handed out once).
    func deliver(computeMachineId: UUID, now: Date, limit: Int) async throws -> [AgentCall]
    /// Records the first answer to a call of this host; false when there is no such call, it is another host's,
    /// or it was answered already.
    func answer(_ id: UUID, computeMachineId: UUID, with answer: AgentCallAnswer) async throws -> Bool
    /// The call's answer once there is one; nil while there is none (or the call is gone).
    func answer(of id: UUID) async throws -> AgentCallAnswer?
    func delete(_ id: UUID) async throws
    /// Deletes calls that expired before `cutoff`; returns how many.
    @discardableResult
    func deleteExpired(before cutoff: Date) async throws -> Int
}

public struct SQLAgentCallRepository: AgentCallRepository {
    let database: Database
    static let table = "agent_calls"

    public init(database: Database) { self.database = database }

    public func insert(_ call: AgentCall, computeMachineId: UUID, now: Date) async throws {
        let payload = String(decoding: try ZedgeJSON.encoder().encode(call.payload), as: UTF8.self)
        try await database.transaction { tx in
            try await tx.db.insert(into: Self.table)
                .columns("id", "compute_machine_id", "kind", "payload", "status", "created_at", "expires_at")
                .values(SQLBind(call.id), SQLBind(computeMachineId), SQLBind(call.kind.rawValue), SQLBind(payload),
                        SQLBind("PENDING"), SQLBind(now), SQLBind(call.expiresAt))
                .run()
            if database.engine == .postgres {
                try await tx.db.raw("SELECT pg_notify(\(bind: TaskWakeChannel.name), \(bind: TaskWakeChannel.callPayload(host: computeMachineId)))").run()
            }
        }
    }

    public func deliver(computeMachineId: UUID, now: Date, limit: Int) async throws -> [AgentCall] {
        let rows = try await database.sql.select().columns("id", "kind", "payload", "expires_at").from(Self.table)
            .where("compute_machine_id", .equal, computeMachineId).where("status", .equal, "PENDING")
            .where("expires_at", .greaterThan, now).orderBy("created_at").limit(limit).all()
        var calls: [AgentCall] = []
        for row in rows {
            let id = try row.decode(column: "id", as: UUID.self)
            // Conditional: two long-polls of one agent (or two replicas) never hand out the same call.
            let won = try await database.sql.update(Self.table).set("status", to: "DELIVERED")
                .where("id", .equal, id).where("status", .equal, "PENDING").returning("id").all().count == 1
            guard won, let kind = AgentCallKind(rawValue: try row.decode(column: "kind", as: String.self)) else { continue }
            let payload = try JSONValue(parsing: try row.decode(column: "payload", as: String.self))
            calls.append(AgentCall(id: id, kind: kind, payload: payload, expiresAt: try row.decode(column: "expires_at", as: Date.self)))
        }
        return calls
    }

    public func answer(_ id: UUID, computeMachineId: UUID, with answer: AgentCallAnswer) async throws -> Bool {
        let text = String(decoding: try ZedgeJSON.encoder().encode(answer), as: UTF8.self)
        return try await database.sql.update(Self.table).set("status", to: "ANSWERED").set("answer", to: SQLBind(text))
            .where("id", .equal, id).where("compute_machine_id", .equal, computeMachineId)
            .where("status", .notEqual, "ANSWERED").returning("id").all().count == 1
    }

    public func answer(of id: UUID) async throws -> AgentCallAnswer? {
        guard let row = try await database.sql.select().column("answer").from(Self.table).where("id", .equal, id)
            .where("status", .equal, "ANSWERED").first(),
            let text = try row.decode(column: "answer", as: String?.self)
        else { return nil }
        return try ZedgeJSON.decoder().decode(AgentCallAnswer.self, from: Data(text.utf8))
    }

    public func delete(_ id: UUID) async throws {
        try await database.sql.delete(from: Self.table).where("id", .equal, id).run()
    }

    public func deleteExpired(before cutoff: Date) async throws -> Int {
        try await database.sql.delete(from: Self.table).where("expires_at", .lessThan, cutoff).returning("id").all().count
    }
}
