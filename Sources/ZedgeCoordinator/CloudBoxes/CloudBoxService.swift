import Foundation
import Logging
import SQLKit
import ZedgeCore

/// Binds a running instance's console to a CloudBox for a while (`cloudbox.bind` with a one-time ticket),
/// unbinds it by hand or when the binding expires, and sends network settings and reboots to boxes.
public struct CloudBoxService: Sendable {
    let store: Store
    let queue: TaskQueue
    let logger: Logger
    let boxes = Table<CloudBox>("cloud_boxes", resource: "CloudBox")

    /// The longest a binding may last.
    public static let maximumBinding: TimeInterval = 30 * 24 * 3600

    public init(store: Store, queue: TaskQueue, logger: Logger) {
        self.store = store
        self.queue = queue
        self.logger = logger
    }

    /// The box after a change and the operation that carries it to the box's agent.
    public struct Accepted: Codable, Sendable {
        public var cloudBox: CloudBox
        public var operation: ZedgeCore.Operation
    }

    public func bind(_ box: CloudBox, to instance: Instance, until expiresAt: Date, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        guard !box.isDisabled else { throw Problem.conflict("CloudBox \(box.name) is disabled: it takes no binding.") }
        guard instance.status == .running else {
            throw Problem.conflict("Instance \(instance.name) is \(instance.status.rawValue): only a RUNNING instance can be bound.", field: "instanceId")
        }
        guard expiresAt > now, expiresAt.timeIntervalSince(now) <= Self.maximumBinding else {
            throw Problem.invalid(field: "expiresAt", "must be in the future and at most 30 days away")
        }
        guard let vmId = instance.virtualMachineId, let vm = try await store.virtualMachines.find(vmId),
              let host = vm.config?.objectValue?["consoleHost"]?.stringValue,
              let port = vm.config?.objectValue?["consolePort"]?.intValue else {
            throw Problem.conflict("Instance \(instance.name) has no console to bind.", field: "instanceId")
        }
        let kind = vm.config?.objectValue?["consoleKind"]?.stringValue.flatMap(GraphicsKind.init(rawValue:)) ?? .vnc
        let ticket = Self.ticket()
        let payload = CloudBoxBindPayload(instanceId: instance.id, instanceName: instance.name,
                                          console: ConsoleEndpoint(kind: kind, host: host, port: port), ticket: ticket, expiresAt: expiresAt)
        return try await send(.cloudboxBind, payload: payload, to: box, by: userId, now: now) { box in
            box.temporaryInstanceId = instance.id
            box.temporaryBindExpiresAt = expiresAt
        }
    }

    public func unbind(_ box: CloudBox, reason: String, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        try await send(.cloudboxUnbind, payload: CloudBoxUnbindPayload(instanceId: box.temporaryInstanceId, reason: reason),
                       to: box, by: userId, now: now) { box in
            box.temporaryInstanceId = nil
            box.temporaryBindExpiresAt = nil
        }
    }

    public func configureNetwork(_ box: CloudBox, _ payload: CloudBoxNetworkPayload, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        let problems = payload.validate()
        guard problems.isEmpty else { throw Problem.invalid(problems) }
        return try await send(.cloudboxConfigureNetwork, payload: payload, to: box, by: userId, now: now) { box in
            box.networkMode = payload.networkMode
            box.gateway = payload.gateway
            box.subnetMask = payload.subnetMask
            box.dnsServers = .array(payload.dnsServers.map { .string($0) })
            if let ip = payload.ipAddress { box.ipAddress = ip }
        }
    }

    public func reboot(_ box: CloudBox, reason: String?, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        let payload = CloudBoxRebootPayload(reason: reason)
        let problems = payload.validate()
        guard problems.isEmpty else { throw Problem.invalid(problems) }
        return try await send(.cloudboxReboot, payload: payload, to: box, by: userId, now: now) { _ in }
    }

    /// Unbinds every box whose binding has expired (the reconciler calls this).
    public func expireBindings(now: Date) async throws {
        let expired = try await store.database.sql.select().column("*").from("cloud_boxes")
            .where("temporary_bind_expires_at", .lessThanOrEqual, now).all().map { try RowCodec.decode(CloudBox.self, from: $0) }
        for box in expired {
            let accepted = try await unbind(box, reason: "the binding expired", by: nil, now: now)
            try await store.auditLogs.append(AuditLog(
                userId: nil, action: "cloud-box.unbind", resourceType: ResourceType.server.rawValue, resourceId: box.id,
                details: ["reason": "expired", "operationId": .string(accepted.operation.id.uuidString), "by": "reconciler"],
                status: .success))
        }
    }

    /// Once `cloudbox.bind` has finished, the ticket is no use to anyone: it is removed from the stored payload
    /// (a `TaskOutcomeRelay` subscriber). Until then it sits in the queued task, which only the box's agent reads.
    public func redactTicket(_ task: AgentTask) async throws {
        guard task.kind == .cloudboxBind, var object = task.payload.objectValue, object["ticket"] != nil else { return }
        object["ticket"] = "<redacted>"
        try await store.database.sql.update("agent_tasks").set("payload", to: try RowCodec.bind(JSONValue.object(object)))
            .where("id", .equal, task.id).run()
    }

    /// Writes the box's change and queues the task for its agent in one transaction.
    func send<Payload: Encodable & Sendable>(
        _ kind: TaskKind, payload: Payload, to box: CloudBox, by userId: UUID?, now: Date,
        _ change: @escaping @Sendable (inout CloudBox) -> Void
    ) async throws -> Accepted {
        let operationId = UUID.v7()
        let task = AgentTask(operationId: operationId, cloudBoxId: box.id, kind: kind, payload: try JSONValue(encoding: payload),
                             maxAttempts: 10, createdAt: now, updatedAt: now)
        let operation = ZedgeCore.Operation(
            id: operationId, kind: kind.rawValue, status: .queued, userId: userId, resourceType: ResourceType.server.rawValue,
            resourceId: box.id, steps: [OperationStep(name: kind.rawValue, weight: 1, taskId: task.id)],
            request: ["kind": .string(kind.rawValue)], createdAt: now, updatedAt: now)
        let boxes = self.boxes, queue = self.queue
        let updated = try await store.database.transaction { db -> CloudBox in
            if self.store.database.engine == .postgres {
                try await db.raw("SELECT id FROM cloud_boxes WHERE id = \(bind: box.id) FOR UPDATE").run()
            }
            guard var current = try await boxes.find(box.id, on: db) else { throw Problem.notFound("CloudBox") }
            change(&current)
            current.updatedAt = now
            _ = try await boxes.update(current, on: db)
            try await queue.insert(operation, tasks: [task], on: db)
            return current
        }
        queue.wake([task])
        return Accepted(cloudBox: updated, operation: operation)
    }

    /// 32 random bytes, base64url.
    static func ticket() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64URLEncoded()
    }
}
