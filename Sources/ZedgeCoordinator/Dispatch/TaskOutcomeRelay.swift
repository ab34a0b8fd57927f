import Foundation
import Logging
import Synchronization
import ZedgeCore

/// Hands every finished task to the parts of the coordinator that act on outcomes (the instance lifecycle,
/// CloudBox bindings). Subscribers are added while the application is composed, before it serves.
public final class TaskOutcomeRelay: Sendable {
    public typealias Subscriber = @Sendable (AgentTask) async throws -> Void

    private let subscribers = Mutex<[Subscriber]>([])
    let logger: Logger

    public init(logger: Logger = Logger(label: "zedge.tasks")) {
        self.logger = logger
    }

    public func subscribe(_ subscriber: @escaping Subscriber) {
        subscribers.withLock { $0.append(subscriber) }
    }

    /// Calls each subscriber in turn; a failing subscriber is logged and does not stop the others (the
    /// reconciler repairs what a lost outcome leaves behind).
    public func publish(_ task: AgentTask) async {
        for subscriber in subscribers.withLock({ $0 }) {
            do { try await subscriber(task) } catch {
                logger.error("acting on a task outcome failed", metadata: [
                    "task": "\(task.id)", "kind": "\(task.kind.rawValue)", "error": "\(String(reflecting: error))",
                ])
            }
        }
    }
}
