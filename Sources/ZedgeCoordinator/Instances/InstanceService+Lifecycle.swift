import Foundation
import ZedgeCore

extension InstanceService {
    /// What one change of an instance does: its new statuses and the task (if any) its host gets.
    struct Change: Sendable {
        var status: InstanceStatus
        var desiredStatus: InstanceDesiredStatus
        var vmStatus: VirtualMachineStatus?
        var task: (kind: TaskKind, payload: JSONValue)?
        var operationKind: String
    }

    /// Start, stop, restart or delete (202 + Operation). Deleting an instance that is already being (or has
    /// been) deleted changes nothing and answers with the delete already under way.
    public func act(_ action: InstanceAction, on instanceId: UUID, by principal: Principal, now: Date = Date()) async throws -> Accepted {
        let service = self
        return try await change(instanceId, userId: principal.userId, now: now) { instance, vm in
            let placed = instance.computeMachineId != nil && vm != nil && vm?.status != .deleted
            if action == .delete, instance.status == .deleting || instance.status == .deleted { return nil }
            let transition: InstanceTransition
            switch InstanceLifecycle.request(action, status: instance.status, placed: placed) {
            case .success(let t): transition = t
            case .failure(let illegal): throw DomainError.conflict(illegal.message, field: "status")
            }
            let vmStatus: VirtualMachineStatus? = switch action {
            case .start: .starting
            case .stop: .stopping
            case .restart: .restarting
            case .delete: nil
            }
            return Change(status: transition.status, desiredStatus: transition.desiredStatus, vmStatus: vmStatus,
                          task: try transition.task.map { ($0, try service.payload(for: $0, vm: vm)) },
                          operationKind: "instance.\(action.rawValue)")
        }
    }

    /// The task payload of `kind` for the instance's VM; 409 when it has none.
    func payload(for kind: TaskKind, vm: VirtualMachine?) throws -> JSONValue {
        guard let vm, let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else {
            throw DomainError.conflict("The instance has no virtual machine to act on.")
        }
        switch kind {
        case .vmStop: return try JSONValue(encoding: VmStopPayload(vmUuid: uuid, vmName: vm.vmName, timeoutS: stopTimeoutS))
        default: return try JSONValue(encoding: VmRefPayload(vmUuid: uuid, vmName: vm.vmName))
        }
    }

    /// Runs `decide` on the instance (held for the transaction) and its VM, writes the change and submits its
    /// operation and task. `decide` returning nil means "nothing to do": the answer is then the newest
    /// operation on the instance.
    func change(
        _ instanceId: UUID, userId: UUID?, now: Date,
        _ decide: @escaping @Sendable (Instance, VirtualMachine?) throws -> Change?
    ) async throws -> Accepted {
        let service = self
        let (instance, operation) = try await dispatcher.transaction { tx, submissions -> (Instance, ZedgeCore.Operation) in
            guard var instance = try await service.instances.lock(instanceId, in: tx) else { throw DomainError.notFound("Instance") }
            var vm = try await instance.virtualMachineId.asyncMap { try await service.instances.virtualMachine($0, in: tx) } ?? nil
            guard let change = try decide(instance, vm) else {
                guard let latest = try await service.tasks.latestOperation(resourceId: instance.id, in: tx) else {
                    throw DomainError.conflict("Nothing to do for an instance that is \(instance.status.rawValue).")
                }
                return (instance, latest)
            }
            instance.status = change.status
            instance.desiredStatus = change.desiredStatus
            instance.updatedAt = now
            if change.status != .running { instance.startedAt = nil }
            if change.status == .running, instance.startedAt == nil { instance.startedAt = now }
            if change.status == .deleted {
                try await service.placement.release(instanceId: instance.id, now: now, in: tx)
                try await service.attachments.release(instanceId: instance.id, now: now, in: tx)
                try await service.diskAttachments.release(instanceId: instance.id, now: now, in: tx)
            }
            try await service.instances.update(instance, in: tx)
            if var changed = vm, let status = change.vmStatus {
                changed.status = status
                changed.updatedAt = now
                try await service.instances.update(changed, in: tx)
                vm = changed
            }
            var plan = OperationPlan(kind: change.operationKind, tenantId: instance.tenantId, userId: userId,
                                     resourceType: ResourceType.instance.rawValue, resourceId: instance.id,
                                     request: ["kind": .string(change.operationKind)])
            if let (kind, payload) = change.task, let machineId = instance.computeMachineId {
                plan.task(kind, for: .computeMachine(machineId), payload: payload)
            } else {
                plan.settled(change.operationKind)
            }
            return (instance, try await submissions.submit(plan, now: now))
        }
        return Accepted(instance: try await view(instance), operation: operation)
    }

    /// The instance with `unreachable` worked out from its machine.
    func view(_ instance: Instance) async throws -> InstanceView {
        guard let machineId = instance.computeMachineId, instance.status != .deleted else {
            return InstanceView(instance: instance, unreachable: false)
        }
        let machine = try await computeMachines.find(machineId)
        return InstanceView(instance: instance, unreachable: machine?.status == .offline)
    }

    func views(_ instances: [Instance]) async throws -> [InstanceView] {
        let ids = Set(instances.compactMap(\.computeMachineId))
        var offline: Set<UUID> = []
        for id in ids where try await computeMachines.find(id)?.status == .offline { offline.insert(id) }
        return instances.map {
            InstanceView(instance: $0, unreachable: $0.status != .deleted && $0.computeMachineId.map(offline.contains) == true)
        }
    }

    // MARK: - Outcomes

    /// Moves the instance along when its agent finishes a `vm.*` task (registered in `init`), or when one is
    /// cancelled before an agent took it (`InstanceLifecycle.afterCancel`: the request is withdrawn).
    public func taskFinished(_ task: AgentTask, now: Date = Date()) async throws {
        guard Self.outcomeKinds.contains(task.kind), let vmUuid = Self.vmUuid(of: task) else { return }
        // Only the instance's own operations move it. An operator's direct task on the machine (or an orphan's
        // clean-up) acts behind the instance model's back: what it did shows in the next heartbeat, and the
        // reconciler answers that like any other drift.
        if let operationId = task.operationId, let operation = try await tasks.target(ofOperation: operationId),
           operation.resourceType != ResourceType.instance.rawValue, operation.resourceType != ResourceType.instanceSet.rawValue,
           operation.kind != "compute-machine.evacuate" {
            return
        }
        let observed = (try? task.result?.decode(as: ObservedVm.self))?.state
        let service = self
        let errored: UUID? = try await dispatcher.transactions.run { tx -> UUID? in
            // A result from a host the VM has left (an evacuation's clean-up) says nothing about the instance.
            guard let vm = try await service.instances.virtualMachine(uuid: vmUuid, in: tx),
                  vm.computeMachineId == task.computeMachineId,
                  var instance = try await service.instances.lockForLifecycle(vm.instanceId, in: tx) else { return nil }
            let next: InstanceStatus
            var desired: InstanceDesiredStatus?
            if task.status == .cancelled {
                guard let withdrawn = InstanceLifecycle.afterCancel(task.kind, status: instance.status) else { return nil }
                (next, desired) = withdrawn
            } else {
                guard let after = InstanceLifecycle.afterTask(task.kind, succeeded: task.status == .succeeded, observed: observed,
                                                              status: instance.status) else { return nil }
                next = after
            }
            var changedVm = vm
            changedVm.updatedAt = now
            changedVm.status = switch next {
            case .running: .running
            case .stopped: .stopped
            case .deleted: .deleted
            default: .error
            }
            if next == .running, instance.status != .running, task.kind != .vmRestart || instance.startedAt == nil {
                instance.startedAt = now
            }
            if next != .running { instance.startedAt = nil }
            if next == .deleted || (next == .error && task.kind == .vmCreate) {
                try await service.placement.release(instanceId: instance.id, now: now, in: tx)
                // Addresses go with the instance, not with a failed VM: an ERROR instance keeps its own.
                if next == .deleted {
                    try await service.attachments.release(instanceId: instance.id, now: now, in: tx)
                    // Its data disks outlive it: detached (the domain is gone) and AVAILABLE again.
                    try await service.diskAttachments.release(instanceId: instance.id, now: now, in: tx)
                }
                if next == .error { instance.computeMachineId = nil }
            }
            instance.status = next
            instance.updatedAt = now
            if let desired { instance.desiredStatus = desired }
            try await service.instances.updateLifecycle(instance, in: tx)
            try await service.instances.updateStatus(changedVm, in: tx)
            return next == .error ? instance.id : nil
        }
        // A start or restart of a domain its host does not have: rebuilt from the instance's snapshot at once
        // (as the reconciler does for a RUNNING instance whose domain went), not left in ERROR.
        if let errored, task.kind == .vmStart || task.kind == .vmRestart, TaskResultReport.saysDomainAbsent(task.result),
           let current = try await instances.find(errored), current.status == .error {
            do {
                // Expecting the instance as stored (the database keeps its own precision of `updatedAt`).
                try await repair(errored, .recreate(reason: "\(task.kind.rawValue) found no domain on its host"),
                                 expecting: current.updatedAt, now: now)
            } catch let error as DomainError where error.kind == .conflict {
                logger.notice("instance changed before its domain could be rebuilt", metadata: ["instance": "\(errored)"])
            }
        }
    }

    /// The domain UUID a vm.* task names: `spec.uuid` of a `VmCreatePayload` (read from the payload's JSON without
    /// decoding the whole spec), `vmUuid` of the others.
    static func vmUuid(of task: AgentTask) -> UUID? {
        if task.kind == .vmCreate {
            return task.payload.objectValue?["spec"]?.objectValue?["uuid"]?.stringValue.flatMap(UUID.init(uuidString:))
        }
        return task.payload.objectValue?["vmUuid"]?.stringValue.flatMap(UUID.init(uuidString:))
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
