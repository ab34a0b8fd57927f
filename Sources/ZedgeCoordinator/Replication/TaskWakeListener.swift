import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// With PostgreSQL, wakes this replica's long-polls for tasks queued through any replica: queueing sends
/// `NOTIFY zedge_tasks, '<host id>'` (delivered when its transaction commits) and every replica LISTENs.
public struct TaskWakeListener: Service {
    public static let channel = "zedge_tasks"
    let client: PostgresClient?
    let notifier: TaskNotifier
    let logger: Logger

    public init(client: PostgresClient?, notifier: TaskNotifier, logger: Logger) {
        self.client = client
        self.notifier = notifier
        self.logger = logger
    }

    public func run() async throws {
        guard let client else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            for try await notification in notifications {
                                if let host = UUID(uuidString: notification.payload) { notifier.notify(host) }
                            }
                        }
                    }
                }
            } catch {
                guard !Task.isShuttingDownGracefully else { break }
                logger.warning("task wake-ups from other replicas paused; reconnecting", metadata: ["error": "\(error)"])
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { break }
        }
    }
}
