import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The two PostgreSQL sessions replicas keep besides their queries (DESIGN §5): LISTEN for task wake-ups,
/// and the session-level advisory lock that makes one replica the leader. Both are nil-safe: with SQLite
/// (one replica) `isShared` is false and the callers do not use them.
public struct ReplicaSessions: Sendable {
    let client: PostgresClient?
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.client = database.postgres
        self.logger = logger
    }

    /// Whether several replicas may share this database.
    public var isShared: Bool { client != nil }

    /// LISTENs on `channel` on a connection of its own and hands each notification's payload to `receive`,
    /// until the connection fails (throws) or graceful shutdown begins (returns). `listening` runs once the server
    /// has confirmed the LISTEN, before the first notification: from then on none is missed, so the caller can
    /// catch up there on what it may have missed before (at start, or while the previous connection was down).
    public func listen(on channel: String, listening: @escaping @Sendable () -> Void = {},
                       _ receive: @escaping @Sendable (String) -> Void) async throws {
        guard let client else { return }
        try await cancelWhenGracefulShutdown {
            try await client.withConnection { connection in
                try await connection.listen(on: channel) { notifications in
                    listening()
                    for try await notification in notifications { receive(notification.payload) }
                }
            }
        }
    }

    /// Holds (or keeps trying for) the advisory lock `key` on a connection of its own, checking the session
    /// every `interval` and telling `leading` each change; returns at graceful shutdown (releasing the lock),
    /// throws when the connection fails (leadership then ends at once: `leading(false)`).
    public func contend(key: Int64, every interval: Duration, leading: @escaping @Sendable (Bool) -> Void) async throws {
        guard let client else { return }
        try await client.withConnection { connection in
            var isLeader = false
            defer { leading(false) }
            while !Task.isShuttingDownGracefully {
                if isLeader {
                    _ = try await connection.query("SELECT 1", logger: logger).collect()  // the session (and lock) is alive
                } else {
                    let rows = try await connection.query("SELECT pg_try_advisory_lock(\(key)) AS ok", logger: logger)
                    for try await ok in rows.decode(Bool.self) where ok {
                        isLeader = true
                        leading(true)
                    }
                }
                do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
            }
            if isLeader {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger).collect()
            }
        }
    }
}
