import Foundation
import Logging
import ZedgeCore

/// Binds a running instance's console to a CloudBox for a while (`cloudbox.bind` with a one-time ticket),
/// unbinds it by hand or when the binding expires, and sends network settings (given, or from a place's
/// subnet) and reboots to boxes.
///
/// A binding's console (issue #16) is a console session of the box's own, through the coordinator's tunnel like
/// every console: the box gets its WebSocket path and a ticket, which its host's agent has made the VM's graphics
/// password until the binding expires, and which works once. Unbinding or expiry ends the session: the agent
/// closes the tunnel and rotates the password.
public struct CloudBoxService: Sendable {
    let hosts: any HostRepository
    let virtualMachines: any VirtualMachineRepository
    let tasks: any TaskRepository
    let auditLogs: any TimeSeriesRepository<AuditLog>
    let addresses: CloudBoxAddresses
    let dispatcher: WorkDispatcher
    let consoles: ConsoleService
    let logger: Logger

    /// The longest a binding may last.
    public static let maximumBinding: TimeInterval = 30 * 24 * 3600

    /// Registers `redactTicket` for `cloudbox.bind` outcomes with `outcomes`.
    public init(
        hosts: any HostRepository, virtualMachines: any VirtualMachineRepository, tasks: any TaskRepository,
        auditLogs: any TimeSeriesRepository<AuditLog>, addresses: CloudBoxAddresses, dispatcher: WorkDispatcher,
        consoles: ConsoleService, outcomes: TaskOutcomeHandlers, logger: Logger
    ) {
        self.consoles = consoles
        self.hosts = hosts
        self.virtualMachines = virtualMachines
        self.tasks = tasks
        self.auditLogs = auditLogs
        self.addresses = addresses
        self.dispatcher = dispatcher
        self.logger = logger
        let service = self
        outcomes.on([.cloudboxBind]) { task in try await service.redactTicket(task) }
    }

    /// The box after a change and the operation that carries it to the box's agent.
    public struct Accepted: Codable, Sendable {
        public var cloudBox: CloudBox
        public var operation: ZedgeCore.Operation
    }

    public func bind(_ box: CloudBox, to instance: Instance, until expiresAt: Date, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        guard !box.isDisabled else { throw DomainError.conflict("CloudBox \(box.name) is disabled: it takes no binding.") }
        guard instance.status == .running else {
            throw DomainError.conflict("Instance \(instance.name) is \(instance.status.rawValue): only a RUNNING instance can be bound.", field: "instanceId")
        }
        guard expiresAt > now, expiresAt.timeIntervalSince(now) <= Self.maximumBinding else {
            throw DomainError.invalid(field: "expiresAt", "must be in the future and at most 30 days away")
        }
        guard let vmId = instance.virtualMachineId, let vm = try await virtualMachines.find(vmId) else {
            throw DomainError.conflict("Instance \(instance.name) has no console to bind.", field: "instanceId")
        }
        let kind = vm.config?.objectValue?["consoleKind"]?.stringValue.flatMap(GraphicsKind.init(rawValue:)) ?? .vnc
        // The box's earlier session ends with this binding: on the same VM its tunnel closes with the new ticket's
        // change; elsewhere its VM's password is rotated.
        let previous = try await consoles.openSessions(cloudBoxId: box.id)
        let (session, token) = try await consoles.issue(forCloudBox: box.id, instance: instance, until: expiresAt, by: userId, now: now)
        let ticket = GraphicsPassword.random()
        do {
            try await consoles.setTicket(ticket, validUntil: expiresAt, on: session,
                                         ending: previous.filter { $0.vmUuid == session.vmUuid }.map(\.id))
        } catch {
            await consoles.ended(session)
            throw error
        }
        try await consoles.revoke(previous.filter { $0.vmUuid != session.vmUuid }, wait: false, now: now)
        for earlier in previous where earlier.vmUuid == session.vmUuid { await consoles.ended(earlier, now: now) }
        let payload = CloudBoxBindPayload(instanceId: instance.id, instanceName: instance.name,
                                          console: ConsoleEndpoint(kind: kind, websocketPath: "/console/\(token)/websocket"),
                                          ticket: ticket, expiresAt: expiresAt)
        do {
            return try await send(.cloudboxBind, payload: payload, to: box, by: userId, now: now) { box in
                box.temporaryInstanceId = instance.id
                box.temporaryBindExpiresAt = expiresAt
            }
        } catch {
            // Not bound after all: the ticket set on the host must not outlive the attempt.
            try? await consoles.revoke([session], wait: false, now: now)
            throw error
        }
    }

    /// Ends the box's session: its console tunnel closes and its VM's graphics password is rotated (waited for
    /// when `waitForHost`, else asked in the background), and `cloudbox.unbind` goes to the box.
    public func unbind(_ box: CloudBox, reason: String, by userId: UUID?, waitForHost: Bool = true, now: Date = Date()) async throws -> Accepted {
        do {
            try await consoles.revoke(try await consoles.openSessions(cloudBoxId: box.id), wait: waitForHost, now: now)
        } catch {
            // The box is unbound whatever its VM's host says: the ticket expires with the binding in any case.
            logger.warning("could not end a CloudBox's console session on its host", metadata: ["cloudBox": "\(box.id)", "error": "\(error)"])
        }
        return try await send(.cloudboxUnbind, payload: CloudBoxUnbindPayload(instanceId: box.temporaryInstanceId, reason: reason),
                       to: box, by: userId, now: now) { box in
            box.temporaryInstanceId = nil
            box.temporaryBindExpiresAt = nil
        }
    }

    /// Sends settings as given. An address the box held from a place is released (FROZEN), in the same
    /// transaction; under DHCP the box then has no known address until its agent reports one.
    public func configureNetwork(_ box: CloudBox, _ payload: CloudBoxNetworkPayload, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        let problems = payload.validate()
        guard problems.isEmpty else { throw DomainError.invalid(problems) }
        let addresses = self.addresses
        return try await send(.cloudboxConfigureNetwork, to: box, by: userId, now: now) { box, tx in
            let released = try await addresses.release(&box, now: now, in: tx)
            box.networkMode = payload.networkMode
            box.gateway = payload.gateway
            box.subnetMask = payload.subnetMask
            box.dnsServers = .array(payload.dnsServers.map { .string($0) })
            if let ip = payload.ipAddress { box.ipAddress = ip } else if released { box.ipAddress = nil }
            return payload
        }
    }

    /// Sends STATIC settings from the place's subnet: the address from IPAM (`ipAddress` if given, else the one
    /// the box holds there, else the lowest free), the subnet's netmask and gateway, the VPC's DNS servers
    /// (see `CloudBoxAddresses.assign`). Allocation, release of an earlier address and the task share one
    /// transaction.
    public func configureNetwork(_ box: CloudBox, at placeId: UUID, ipAddress: IPAddress?, by userId: UUID?,
                                 now: Date = Date()) async throws -> Accepted {
        let addresses = self.addresses
        return try await send(.cloudboxConfigureNetwork, to: box, by: userId, now: now) { box, tx in
            try await addresses.assign(&box, placeId: placeId, ipAddress: ipAddress, by: userId, now: now, in: tx)
        }
    }

    public func reboot(_ box: CloudBox, reason: String?, by userId: UUID?, now: Date = Date()) async throws -> Accepted {
        let payload = CloudBoxRebootPayload(reason: reason)
        let problems = payload.validate()
        guard problems.isEmpty else { throw DomainError.invalid(problems) }
        return try await send(.cloudboxReboot, payload: payload, to: box, by: userId, now: now) { _ in }
    }

    /// Unbinds every box whose binding has expired (the reconciler calls this).
    public func expireBindings(now: Date) async throws {
        for box in try await hosts.expiredBindings(now: now) {
            let accepted = try await unbind(box, reason: "the binding expired", by: nil, waitForHost: false, now: now)
            try await auditLogs.append(AuditLog(
                userId: nil, action: "cloud-box.unbind", resourceType: ResourceType.server.rawValue, resourceId: box.id,
                details: ["reason": "expired", "operationId": .string(accepted.operation.id.uuidString), "by": "reconciler"],
                status: .success))
        }
    }

    /// Once `cloudbox.bind` has finished, the ticket and the console's WebSocket path (its token) are no use to
    /// anyone else: they are removed from the stored payload (registered in `init`). Until then they sit in the
    /// queued task, which only the box's agent reads.
    public func redactTicket(_ task: AgentTask) async throws {
        guard task.kind == .cloudboxBind, var object = task.payload.objectValue, object["ticket"] != nil else { return }
        object["ticket"] = "<redacted>"
        if var console = object["console"]?.objectValue {
            console["websocketPath"] = "<redacted>"
            object["console"] = .object(console)
        }
        try await tasks.replacePayload(of: task.id, with: .object(object))
    }

    /// Writes the box's change and submits the task for its agent in one transaction.
    func send<Payload: Encodable & Sendable>(
        _ kind: TaskKind, payload: Payload, to box: CloudBox, by userId: UUID?, now: Date,
        _ change: @escaping @Sendable (inout CloudBox) -> Void
    ) async throws -> Accepted {
        try await send(kind, to: box, by: userId, now: now) { box, _ in
            change(&box)
            return payload
        }
    }

    /// Locks the box, lets `prepare` change it and make the task's payload in the transaction, writes the box
    /// and submits the task, all in one transaction.
    func send<Payload: Encodable & Sendable>(
        _ kind: TaskKind, to box: CloudBox, by userId: UUID?, now: Date,
        _ prepare: @escaping @Sendable (inout CloudBox, Transaction) async throws -> Payload
    ) async throws -> Accepted {
        let hosts = self.hosts
        return try await dispatcher.transaction { tx, submissions in
            guard var current = try await hosts.lockCloudBox(box.id, in: tx) else { throw DomainError.notFound("CloudBox") }
            let payload = try await prepare(&current, tx)
            current.updatedAt = now
            try await hosts.update(current, in: tx)
            var plan = OperationPlan(kind: kind.rawValue, userId: userId, resourceType: ResourceType.server.rawValue, resourceId: box.id,
                                     request: ["kind": .string(kind.rawValue)])
            plan.task(kind, for: .cloudBox(box.id), payload: try JSONValue(encoding: payload), maxAttempts: 10)
            return Accepted(cloudBox: current, operation: try await submissions.submit(plan, now: now))
        }
    }
}
