#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A progress event an agent reports for a task. (taskId, sequence) is unique, which makes reports idempotent.
public struct TaskEvent: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var taskId: UUID
    public var operationId: UUID?
    /// Assigned by the agent, per task, for idempotency.
    public var sequence: Int
    public var kind: EventKind
    public var name: String
    public var metadata: JSONValue?
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        taskId: UUID,
        operationId: UUID? = nil,
        sequence: Int,
        kind: EventKind,
        name: String,
        metadata: JSONValue? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.taskId = taskId
        self.operationId = operationId
        self.sequence = sequence
        self.kind = kind
        self.name = name
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// Kind of task/operation event.
public enum EventKind: String, ZedgeEnum {
    case step = "STEP"
    case info = "INFO"
    case error = "ERROR"
    case complete = "COMPLETE"
}
