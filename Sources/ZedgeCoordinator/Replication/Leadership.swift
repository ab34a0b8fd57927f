import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Whether this coordinator replica runs the background loops (liveness checks, lease expiry, the
/// reconciler). With SQLite there is one replica and it always leads; with PostgreSQL the replica holding a
/// session-level `pg_try_advisory_lock` leads (DESIGN §5), and another takes over when its session ends.
public final class Leadership: Sendable {
    private let leading: Atomic<Bool>

    public init(leading: Bool = false) {
        self.leading = Atomic(leading)
    }

    public var isLeader: Bool { leading.load(ordering: .acquiring) }

    func set(_ value: Bool) { leading.store(value, ordering: .releasing) }
}

/// Holds (or keeps trying for) the advisory lock on a connection of its own, checking the session every
/// `interval`; a lost connection ends leadership at once.
public struct LeadershipService: Service {
    /// "zedge" as a 64-bit key, shared by every replica of one database.
    static let lockKey: Int64 = 0x7A65_6467_6500
    let client: PostgresClient?
    let leadership: Leadership
    let interval: Duration
    let logger: Logger

    public init(client: PostgresClient?, leadership: Leadership, interval: Duration = .seconds(2), logger: Logger) {
        self.client = client
        self.leadership = leadership
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        guard let client else {
            leadership.set(true)
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully {
            do {
                try await client.withConnection { connection in
                    try await hold(on: connection)
                }
            } catch {
                logger.warning(leadership.isLeader ? "lost leadership" : "cannot contend for leadership; retrying",
                               metadata: ["error": "\(error)"])
            }
            leadership.set(false)
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
        }
        leadership.set(false)
    }

    func hold(on connection: PostgresConnection) async throws {
        defer { leadership.set(false) }
        while !Task.isShuttingDownGracefully {
            if leadership.isLeader {
                _ = try await connection.query("SELECT 1", logger: logger).collect()  // the session (and lock) is alive
            } else {
                let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey)) AS ok", logger: logger)
                for try await ok in rows.decode(Bool.self) where ok {
                    leadership.set(true)
                    logger.notice("this replica now runs the background loops")
                }
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
        }
        if leadership.isLeader {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger).collect()
        }
    }
}
