import Foundation
import SQLKit
import ZedgeCore

/// Which verified images (by SHA-256) each compute machine's agent holds in its cache, as its heartbeats
/// report them (`host_cached_images`). Placement prefers a machine that already holds an instance's image.
public protocol CachedImageRepository: Sendable {
    /// Replaces, in one transaction, the cached set of each machine given; machines removed since are skipped.
    func replace(_ sets: [UUID: Set<String>], at: Date) async throws
    /// The machines that reported holding the image.
    func holders(of sha256: String) async throws -> Set<UUID>
    /// What the machine's agent last reported holding, by hash.
    func cached(on computeMachineId: UUID) async throws -> [CachedImage]
}

/// One image a machine's agent holds, as its heartbeat reported it.
public struct CachedImage: Codable, Sendable, Hashable {
    /// SHA-256, 64 lowercase hex digits.
    public var sha256: String
    public var reportedAt: Date
}

public struct SQLCachedImageRepository: CachedImageRepository {
    let database: Database
    static let table = "host_cached_images"
    /// Bind parameters per statement are bounded (SQLite: 32,766).
    static let batch = 500

    public init(database: Database) { self.database = database }

    public func replace(_ sets: [UUID: Set<String>], at: Date) async throws {
        guard !sets.isEmpty else { return }
        try await database.transaction { tx in
            let db = tx.db
            let existing = try await SQLHostRepository.existing(Set(sets.keys), in: "compute_machines", batch: Self.batch, on: db)
            for (machine, hashes) in sets where existing.contains(machine) {
                try await db.delete(from: Self.table).where("compute_machine_id", .equal, machine).run()
                let rows = hashes.sorted()
                for start in stride(from: 0, to: rows.count, by: Self.batch) {
                    var insert = db.insert(into: Self.table).columns("id", "compute_machine_id", "sha256", "reported_at")
                    for sha in rows[start..<min(start + Self.batch, rows.count)] {
                        insert = insert.values(SQLBind(UUID.v7()), SQLBind(machine), SQLBind(sha), SQLBind(at))
                    }
                    try await insert.run()
                }
            }
        }
    }

    public func cached(on computeMachineId: UUID) async throws -> [CachedImage] {
        try await database.sql.select().columns("sha256", "reported_at").from(Self.table)
            .where("compute_machine_id", .equal, computeMachineId).orderBy("sha256").all()
            .map { CachedImage(sha256: try $0.decode(column: "sha256", as: String.self), reportedAt: try $0.decode(column: "reported_at", as: Date.self)) }
    }

    public func holders(of sha256: String) async throws -> Set<UUID> {
        Set(try await database.sql.select().column("compute_machine_id").from(Self.table).where("sha256", .equal, sha256)
            .all().map { try $0.decode(column: "compute_machine_id", as: UUID.self) })
    }
}
