#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A unit of work queued for one agent (DESIGN §2, §4); named AgentTask to avoid Swift's `Task`.
///
/// Delivery is at least once: a lease that expires hands the task out again; the agent journals the id.
public struct AgentTask: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var operationId: UUID?
    public var computeMachineId: UUID?
    public var cloudBoxId: UUID?
    public var kind: TaskKind
    /// The payload exactly as sent to the agent.
    public var payload: JSONValue
    public var status: TaskStatus
    public var attempts: Int
    public var maxAttempts: Int
    public var leaseExpiresAt: Date?
    /// The agent run a LEASED task was handed to (the `Zedge-Agent-Run` its agent process picked at start); nil
    /// when it is not leased or its agent does not say. An addition to the seed (SchemaV7).
    public var leaseHolder: UUID?
    public var result: JSONValue?
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?

    public init(
        id: UUID = .v7(),
        operationId: UUID? = nil,
        computeMachineId: UUID? = nil,
        cloudBoxId: UUID? = nil,
        kind: TaskKind,
        payload: JSONValue,
        status: TaskStatus = .queued,
        attempts: Int = 0,
        maxAttempts: Int = 5,
        leaseExpiresAt: Date? = nil,
        leaseHolder: UUID? = nil,
        result: JSONValue? = nil,
        error: String? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        finishedAt: Date? = nil
    ) {
        self.id = id
        self.operationId = operationId
        self.computeMachineId = computeMachineId
        self.cloudBoxId = cloudBoxId
        self.kind = kind
        self.payload = payload
        self.status = status
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.leaseExpiresAt = leaseExpiresAt
        self.leaseHolder = leaseHolder
        self.result = result
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
    }
}

/// What an agent task does (DESIGN §4).
public enum TaskKind: String, ZedgeEnum {
    case vmCreate = "vm.create"
    case vmStart = "vm.start"
    case vmStop = "vm.stop"
    case vmRestart = "vm.restart"
    case vmDelete = "vm.delete"
    case diskCreate = "disk.create"
    case diskResize = "disk.resize"
    case diskDelete = "disk.delete"
    case diskAttach = "disk.attach"
    case diskDetach = "disk.detach"
    case imageFetch = "image.fetch"
    case cloudboxConfigureNetwork = "cloudbox.configure-network"
    case cloudboxBind = "cloudbox.bind"
    case cloudboxUnbind = "cloudbox.unbind"
    case cloudboxReboot = "cloudbox.reboot"
}

/// Lifecycle of an agent task.
public enum TaskStatus: String, ZedgeEnum {
    case queued = "QUEUED"
    case leased = "LEASED"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case cancelled = "CANCELLED"
}

extension TaskStatus {
    /// SUCCEEDED, FAILED or CANCELLED.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}
