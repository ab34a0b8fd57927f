import Foundation
import Logging
import Synchronization
import ZedgeCore

/// Who acts on a finished task, by task kind. The code that owns a kind registers its handler where it is
/// built (the instance lifecycle for `vm.*`, CloudBox bindings for `cloudbox.bind`); the queue calls them
/// for every task that reaches SUCCEEDED or FAILED.
public final class TaskOutcomeHandlers: Sendable {
    public typealias Handler = @Sendable (AgentTask) async throws -> Void

    private let handlers = Mutex<[TaskKind: [Handler]]>([:])
    let logger: Logger

    public init(logger: Logger = Logger(label: "zedge.tasks")) {
        self.logger = logger
    }

    /// Calls `handler` with every finished task of these kinds.
    public func on(_ kinds: [TaskKind], _ handler: @escaping Handler) {
        handlers.withLock { handlers in
            for kind in kinds { handlers[kind, default: []].append(handler) }
        }
    }

    /// Calls each handler of the task's kind in turn; a failing one is logged and does not stop the others
    /// (the reconciler repairs what a lost outcome leaves behind).
    public func handle(_ task: AgentTask) async {
        for handler in handlers.withLock({ $0[task.kind] ?? [] }) {
            do { try await handler(task) } catch {
                logger.error("acting on a task outcome failed", metadata: [
                    "task": "\(task.id)", "kind": "\(task.kind.rawValue)", "error": "\(String(reflecting: error))",
                ])
            }
        }
    }
}
