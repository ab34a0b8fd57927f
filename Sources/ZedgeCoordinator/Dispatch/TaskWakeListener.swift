import Foundation
import Logging
import ServiceLifecycle

/// With PostgreSQL, wakes this replica's long-polls for tasks queued through any replica: queueing sends
/// `NOTIFY zedge_tasks, '<host id>'` (delivered when its transaction commits) and every replica LISTENs.
public struct TaskWakeListener: Service {
    let sessions: ReplicaSessions
    let notifier: TaskNotifier
    let logger: Logger

    public init(sessions: ReplicaSessions, notifier: TaskNotifier, logger: Logger) {
        self.sessions = sessions
        self.notifier = notifier
        self.logger = logger
    }

    public func run() async throws {
        guard sessions.isShared else {
            try? await gracefulShutdown()
            return
        }
        let notifier = self.notifier
        while !Task.isShuttingDownGracefully {
            do {
                try await sessions.listen(on: TaskWakeChannel.name) { payload in
                    if let host = UUID(uuidString: payload) { notifier.notify(host) }
                }
            } catch {
                guard !Task.isShuttingDownGracefully else { break }
                logger.warning("task wake-ups from other replicas paused; reconnecting", metadata: ["error": "\(error)"])
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { break }
        }
    }
}
