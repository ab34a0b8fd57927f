import Foundation
import Logging
import ServiceLifecycle

/// With PostgreSQL, wakes this replica's long-polls for tasks queued through any replica: queueing sends
/// `NOTIFY zedge_tasks, '<host id>'` (delivered when its transaction commits) and every replica LISTENs. A new
/// agent call sends `'<host id> call'`: the host's polls here look for calls again. A new agent run adopted
/// through another replica (`'<host id> <run> <ms>'`) replaces the host's run here too, unless
/// this replica saw a later one. Each time the LISTEN comes into force (at start and after a reconnect) the
/// notifier forgets what it knew of calls and wakes every poll: a NOTIFY sent while it was not listening was lost.
public struct TaskWakeListener: Service {
    let sessions: ReplicaSessions
    let notifier: TaskNotifier
    /// Told of agent runs adopted through other replicas.
    let queue: TaskQueue
    let logger: Logger

    public init(sessions: ReplicaSessions, notifier: TaskNotifier, queue: TaskQueue, logger: Logger) {
        self.sessions = sessions
        self.notifier = notifier
        self.queue = queue
        self.logger = logger
    }

    public func run() async throws {
        guard sessions.isShared else {
            try? await gracefulShutdown()
            return
        }
        let notifier = self.notifier, queue = self.queue
        while !Task.isShuttingDownGracefully {
            do {
                // Wake-ups sent before the LISTEN was in force are lost: its hosts' polls look for calls again and
                // for tasks at once (a task's poll would find it at its next look anyway; a call's would not).
                try await sessions.listen(on: TaskWakeChannel.name, listening: notifier.resynchronize) { payload in
                    guard let (host, newRun, call) = TaskWakeChannel.parse(payload) else { return }
                    if let newRun {
                        queue.supersede(host, by: newRun.run, since: newRun.since)
                    } else if call {
                        notifier.notifyCall(host)
                    } else {
                        notifier.notify(host)
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
