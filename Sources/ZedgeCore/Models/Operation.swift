#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The handle returned by every asynchronous request (202): status, weighted steps, progress and a
/// snapshot of the request (DESIGN §2). Where Foundation is imported too, spell it `ZedgeOperation`.
public struct Operation: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    /// E.g. "instance.create".
    public var kind: String
    public var status: OperationStatus
    public var tenantId: UUID?
    public var userId: UUID?
    public var resourceType: String?
    public var resourceId: UUID?
    public var steps: [OperationStep]
    /// Percent, 0...100; see `OperationStep.progress(of:)`.
    public var progress: Double
    /// Snapshot of the request as received.
    public var request: JSONValue?
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var endedAt: Date?

    public init(
        id: UUID = .v7(),
        kind: String,
        status: OperationStatus = .queued,
        tenantId: UUID? = nil,
        userId: UUID? = nil,
        resourceType: String? = nil,
        resourceId: UUID? = nil,
        steps: [OperationStep] = [],
        progress: Double = 0,
        request: JSONValue? = nil,
        error: String? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        startedAt: Date? = nil,
        endedAt: Date? = nil
    ) {
        self.id = id
        self.kind = kind
        self.status = status
        self.tenantId = tenantId
        self.userId = userId
        self.resourceType = resourceType
        self.resourceId = resourceId
        self.steps = steps
        self.progress = progress
        self.request = request
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

/// Lifecycle of an operation.
public enum OperationStatus: String, ZedgeEnum {
    case queued = "QUEUED"
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case cancelled = "CANCELLED"
}

/// Status of one step of an operation.
public enum StepStatus: String, ZedgeEnum {
    case pending = "PENDING"
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case skipped = "SKIPPED"
    /// Zedge addition: its task was cancelled before an agent took it (`POST /operations/{id}/actions/cancel`).
    case cancelled = "CANCELLED"
}

/// One weighted step of an `Operation`, optionally carried out by an agent task.
public struct OperationStep: Codable, Sendable, Hashable {
    public var name: String
    /// Relative weight toward the operation's progress (negative weights count as 0).
    public var weight: Int
    public var status: StepStatus
    public var taskId: UUID?

    public init(name: String, weight: Int = 1, status: StepStatus = .pending, taskId: UUID? = nil) {
        self.name = name
        self.weight = weight
        self.status = status
        self.taskId = taskId
    }

    /// Percent done: 100 × (weight of SUCCEEDED or SKIPPED steps) / (total weight); 100 when there is no weight.
    public static func progress(of steps: [OperationStep]) -> Double {
        let total = steps.reduce(0) { $0 + max(0, $1.weight) }
        guard total > 0 else { return 100 }
        let done = steps.reduce(0) { $0 + (($1.status == .succeeded || $1.status == .skipped) ? max(0, $1.weight) : 0) }
        return 100 * Double(done) / Double(total)
    }
}

extension OperationStatus {
    /// SUCCEEDED, FAILED or CANCELLED.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// An unambiguous name for `Operation`: files that import both Foundation and ZedgeCore find
/// `Foundation.Operation` (NSOperation) too, so a bare `Operation` in a type position is ambiguous there.
/// Use `ZedgeOperation` (or `ZedgeCore.Operation`) in such files.
public typealias ZedgeOperation = Operation
