import Foundation
import Logging
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

/// Contends for leadership through `ReplicaSessions.contend`, reconnecting after `interval` when the
/// session fails. Without a shared database this replica simply leads.
public struct LeadershipService: Service {
    /// "zedge" as a 64-bit key, shared by every replica of one database.
    static let lockKey: Int64 = 0x7A65_6467_6500
    let sessions: ReplicaSessions
    let leadership: Leadership
    let interval: Duration
    let logger: Logger

    public init(sessions: ReplicaSessions, leadership: Leadership, interval: Duration = .seconds(2), logger: Logger) {
        self.sessions = sessions
        self.leadership = leadership
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        guard sessions.isShared else {
            leadership.set(true)
            try? await gracefulShutdown()
            return
        }
        let leadership = self.leadership, logger = self.logger
        while !Task.isShuttingDownGracefully {
            do {
                try await sessions.contend(key: Self.lockKey, every: interval) { leading in
                    if leading, !leadership.isLeader { logger.notice("this replica now runs the background loops") }
                    leadership.set(leading)
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
}
