import Foundation
import SQLKit
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
        try await change(instanceId, userId: principal.userId, now: now) { instance, vm in
            let placed = instance.computeMachineId != nil && vm != nil && vm?.status != .deleted
            if action == .delete, instance.status == .deleting || instance.status == .deleted { return nil }
            let transition: InstanceTransition
            switch InstanceLifecycle.request(action, status: instance.status, placed: placed) {
            case .success(let t): transition = t
            case .failure(let illegal): throw Problem.conflict(illegal.message, field: "status")
            }
            let vmStatus: VirtualMachineStatus? = switch action {
            case .start: .starting
            case .stop: .stopping
            case .restart: .restarting
            case .delete: nil
            }
            return Change(status: transition.status, desiredStatus: transition.desiredStatus, vmStatus: vmStatus,
                          task: try transition.task.map { ($0, try payload(for: $0, vm: vm, instance: instance)) },
                          operationKind: "instance.\(action.rawValue)")
        }
    }

    /// The task payload of `kind` for the instance's VM.
    func payload(for kind: TaskKind, vm: VirtualMachine?, instance: Instance) throws -> JSONValue {
        guard let vm, let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else {
            throw Problem.conflict("The instance has no virtual machine to act on.")
        }
        switch kind {
        case .vmStop: return try JSONValue(encoding: VmStopPayload(vmUuid: uuid, vmName: vm.vmName, timeoutS: settings.stopTimeoutS))
        default: return try JSONValue(encoding: VmRefPayload(vmUuid: uuid, vmName: vm.vmName))
        }
    }

    /// Runs `decide` on the instance (locked for the transaction on PostgreSQL) and its VM, writes the change
    /// and its operation and task, and wakes the host. `decide` returning nil means "nothing to do": the
    /// answer is then the newest operation on the instance.
    func change(
        _ instanceId: UUID, userId: UUID?, now: Date,
        _ decide: @escaping @Sendable (Instance, VirtualMachine?) throws -> Change?
    ) async throws -> Accepted {
        let service = self
        let (instance, operation, task) = try await store.database.transaction { db -> (Instance, ZedgeCore.Operation, AgentTask?) in
            if service.store.database.engine == .postgres {
                try await db.raw("SELECT id FROM instances WHERE id = \(bind: instanceId) FOR UPDATE").run()
            }
            guard var instance = try await service.tables.instances.find(instanceId, on: db) else { throw Problem.notFound("Instance") }
            var vm = try await instance.virtualMachineId.asyncMap { try await service.tables.vms.find($0, on: db) } ?? nil
            guard let change = try decide(instance, vm) else {
                let latest = try await db.select().column("*").from("operations").where("resource_id", .equal, instance.id)
                    .orderBy("id", .descending).limit(1).first().map { try RowCodec.decode(ZedgeCore.Operation.self, from: $0) }
                guard let latest else { throw Problem.conflict("Nothing to do for an instance that is \(instance.status.rawValue).") }
                return (instance, latest, nil)
            }
            instance.status = change.status
            instance.desiredStatus = change.desiredStatus
            instance.updatedAt = now
            if change.status != .running { instance.startedAt = nil }
            if change.status == .deleted { try await service.ledger.release(instanceId: instance.id, now: now, on: db) }
            _ = try await service.tables.instances.update(instance, on: db)
            if var changed = vm, let status = change.vmStatus {
                changed.status = status
                changed.updatedAt = now
                _ = try await service.tables.vms.update(changed, on: db)
                vm = changed
            }
            let operationId = UUID.v7()
            var task: AgentTask?
            if let (kind, payload) = change.task, let machineId = instance.computeMachineId {
                task = AgentTask(operationId: operationId, computeMachineId: machineId, kind: kind, payload: payload,
                                 createdAt: now, updatedAt: now)
            }
            let steps = task.map { [OperationStep(name: $0.kind.rawValue, weight: 1, taskId: $0.id)] }
                ?? [OperationStep(name: change.operationKind, weight: 1, status: .succeeded)]
            let operation = ZedgeCore.Operation(
                id: operationId, kind: change.operationKind, status: task == nil ? .succeeded : .queued, tenantId: instance.tenantId,
                userId: userId, resourceType: ResourceType.instance.rawValue, resourceId: instance.id, steps: steps,
                progress: task == nil ? 100 : 0, request: ["kind": .string(change.operationKind)], createdAt: now, updatedAt: now,
                startedAt: task == nil ? now : nil, endedAt: task == nil ? now : nil)
            try await service.queue.insert(operation, tasks: task.map { [$0] } ?? [], on: db)
            return (instance, operation, task)
        }
        if let task { queue.wake([task]) }
        return Accepted(instance: try await view(instance), operation: operation)
    }

    /// The instance with `unreachable` worked out from its machine.
    func view(_ instance: Instance) async throws -> InstanceView {
        guard let machineId = instance.computeMachineId, instance.status != .deleted else {
            return InstanceView(instance: instance, unreachable: false)
        }
        let machine = try await store.computeMachines.find(machineId)
        return InstanceView(instance: instance, unreachable: machine?.status == .offline)
    }

    func views(_ instances: [Instance]) async throws -> [InstanceView] {
        let ids = Set(instances.compactMap(\.computeMachineId))
        var offline: Set<UUID> = []
        for id in ids where try await store.computeMachines.find(id)?.status == .offline { offline.insert(id) }
        return instances.map {
            InstanceView(instance: $0, unreachable: $0.status != .deleted && $0.computeMachineId.map(offline.contains) == true)
        }
    }

    // MARK: - Outcomes

    /// Moves the instance along when its agent finishes a `vm.*` task (a `TaskOutcomeRelay` subscriber).
    public func taskFinished(_ task: AgentTask, now: Date = Date()) async throws {
        guard [.vmCreate, .vmStart, .vmStop, .vmRestart, .vmDelete].contains(task.kind),
              let vmUuid = Self.vmUuid(of: task) else { return }
        // Only the instance's own operations move it. An operator's direct task on the machine (or an orphan's
        // clean-up) acts behind the instance model's back: what it did shows in the next heartbeat, and the
        // reconciler answers that like any other drift.
        if let operationId = task.operationId, let operation = try await queue.operation(operationId),
           operation.resourceType != ResourceType.instance.rawValue, operation.resourceType != ResourceType.instanceSet.rawValue,
           operation.kind != "compute-machine.evacuate" {
            return
        }
        let observed = (try? task.result?.decode(as: ObservedVm.self))?.state
        let service = self
        try await store.database.transaction { db in
            // A result from a host the VM has left (an evacuation's clean-up) says nothing about the instance.
            guard let vm = try await service.tables.vms.first(where: [try .equal("vmUuid", vmUuid.uuidString)], on: db),
                  vm.computeMachineId == task.computeMachineId,
                  var instance = try await service.tables.instances.find(vm.instanceId, on: db) else { return }
            if service.store.database.engine == .postgres {
                try await db.raw("SELECT id FROM instances WHERE id = \(bind: instance.id) FOR UPDATE").run()
                instance = try await service.tables.instances.find(instance.id, on: db) ?? instance
            }
            guard let next = InstanceLifecycle.afterTask(task.kind, succeeded: task.status == .succeeded, observed: observed,
                                                         status: instance.status) else { return }
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
                try await service.ledger.release(instanceId: instance.id, now: now, on: db)
                if next == .error { instance.computeMachineId = nil }
            }
            instance.status = next
            instance.updatedAt = now
            _ = try await service.tables.instances.update(instance, on: db)
            _ = try await service.tables.vms.update(changedVm, on: db)
        }
    }

    static func vmUuid(of task: AgentTask) -> UUID? {
        if task.kind == .vmCreate { return (try? task.payload.decode(as: VmCreatePayload.self))?.spec.uuid }
        return task.payload.objectValue?["vmUuid"]?.stringValue.flatMap(UUID.init(uuidString:))
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
