import Foundation
import ZedgeCore

/// What an asynchronous request is to become: an Operation with weighted steps, some already settled and
/// some carried by a task for one host's agent (DESIGN §2 "Jobs, steps with weighted points").
public struct OperationPlan: Sendable {
    /// One step: settled already (quota checked, placement done, skipped), or a task for a host.
    public enum Step: Sendable {
        case settled(name: String, weight: Int, status: StepStatus)
        /// `checked`: the payload passed its kind's check when it was typed (`task(_:for:typed:…)`).
        case task(name: String, weight: Int, host: Host, kind: TaskKind, payload: Payload, maxAttempts: Int, checked: Bool)
    }

    /// A task's payload as the plan holds it.
    public enum Payload: Sendable {
        /// A JSON value, checked by the dispatcher.
        case value(JSONValue)
        /// The JSON text a typed payload encoded to (`ZedgeJSON`): the task's row stores it as it is, and it is parsed
        /// only for a caller that asks for the tasks (`submitWithTasks`). A create's transaction, which holds SQLite's
        /// one writer, used to parse it into a `JSONValue` and encode that again for the row (issue #14).
        case encoded(String)
    }

    /// The agent a task goes to.
    public enum Host: Sendable, Hashable {
        case computeMachine(UUID)
        case cloudBox(UUID)
    }

    public var kind: String
    public var tenantId: UUID?
    public var userId: UUID?
    public var resourceType: String
    public var resourceId: UUID?
    public var request: JSONValue?
    public var steps: [Step] = []
    /// RUNNING from the start (work already done on the coordinator, as in a create); otherwise QUEUED until
    /// an agent leases a task.
    public var startsRunning = false
    /// Why the operation failed, when a settled step FAILED.
    public var error: String?

    public init(kind: String, tenantId: UUID? = nil, userId: UUID?, resourceType: String, resourceId: UUID?, request: JSONValue?) {
        self.kind = kind
        self.tenantId = tenantId
        self.userId = userId
        self.resourceType = resourceType
        self.resourceId = resourceId
        self.request = request
    }

    public mutating func settled(_ name: String, weight: Int = 1, _ status: StepStatus = .succeeded) {
        steps.append(.settled(name: name, weight: weight, status: status))
    }

    public mutating func task(
        _ kind: TaskKind, for host: Host, payload: JSONValue, name: String? = nil, weight: Int = 1, maxAttempts: Int = 5
    ) {
        steps.append(.task(name: name ?? kind.rawValue, weight: weight, host: host, kind: kind, payload: .value(payload),
                           maxAttempts: maxAttempts, checked: false))
    }

    /// A task with a typed payload: checked now (`TaskKind.problems(of:)`, no decoding) and encoded once; the
    /// dispatcher does not check it again.
    /// - Throws: `DomainError` (invalid, a 400) naming `payload.<field>`, as `WorkDispatcher.check` does.
    public mutating func task<P: TaskPayload>(
        _ kind: TaskKind, for host: Host, typed payload: P, name: String? = nil, weight: Int = 1, maxAttempts: Int = 5
    ) throws {
        try WorkDispatcher.refuse(kind, kind.problems(of: payload, prefix: "payload"))
        let text = String(decoding: try ZedgeJSON.encoder().encode(payload), as: UTF8.self)
        steps.append(.task(name: name ?? kind.rawValue, weight: weight, host: host, kind: kind, payload: .encoded(text),
                           maxAttempts: maxAttempts, checked: true))
    }

    /// The operation and its tasks as they are stored: progress from the settled steps' weights; SUCCEEDED at
    /// once when no task remains, FAILED when a settled step failed. A task whose payload the plan holds as text
    /// (`Payload.encoded`) has a null `payload` here, and its text in `payloadTexts` (by task id).
    public func build(now: Date) -> (operation: ZedgeCore.Operation, tasks: [AgentTask], payloadTexts: [UUID: String]) {
        let operationId = UUID.v7()
        var operationSteps: [OperationStep] = []
        var tasks: [AgentTask] = []
        var payloadTexts: [UUID: String] = [:]
        for step in steps {
            switch step {
            case let .settled(name, weight, status):
                operationSteps.append(OperationStep(name: name, weight: weight, status: status))
            case let .task(name, weight, host, kind, payload, maxAttempts, _):
                let (machine, box): (UUID?, UUID?) = switch host {
                case .computeMachine(let id): (id, nil)
                case .cloudBox(let id): (nil, id)
                }
                let value: JSONValue = if case .value(let value) = payload { value } else { .null }
                let task = AgentTask(operationId: operationId, computeMachineId: machine, cloudBoxId: box, kind: kind, payload: value,
                                     maxAttempts: maxAttempts, createdAt: now, updatedAt: now)
                if case .encoded(let text) = payload { payloadTexts[task.id] = text }
                tasks.append(task)
                operationSteps.append(OperationStep(name: name, weight: weight, taskId: task.id))
            }
        }
        var operation = ZedgeCore.Operation(
            id: operationId, kind: kind, status: startsRunning ? .running : .queued, tenantId: tenantId, userId: userId,
            resourceType: resourceType, resourceId: resourceId, steps: operationSteps,
            progress: OperationStep.progress(of: operationSteps), request: request, createdAt: now, updatedAt: now,
            startedAt: startsRunning ? now : nil)
        if operationSteps.contains(where: { $0.status == .failed }) {
            operation.status = .failed
            operation.error = error
        } else if tasks.isEmpty {
            operation.status = .succeeded
        }
        if operation.status.isTerminal {
            operation.startedAt = operation.startedAt ?? now
            operation.endedAt = now
        }
        return (operation, tasks, payloadTexts)
    }
}
