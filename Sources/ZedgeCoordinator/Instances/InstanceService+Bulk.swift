import Foundation
import SQLKit
import ZedgeCore

extension InstanceService {
    /// Starts or stops many instances under one Operation with a step per instance (an instance set's bulk
    /// action). An instance whose status does not allow the action gets a SKIPPED step saying why; the others
    /// get their task. Progress counts finished and skipped steps.
    public func bulk(
        _ action: InstanceAction, instances ids: [UUID], setId: UUID, tenantId: UUID, by principal: Principal, now: Date = Date()
    ) async throws -> ZedgeCore.Operation {
        precondition(action == .start || action == .stop, "bulk actions are start and stop")
        let service = self
        let (operation, tasks) = try await store.database.transaction { db -> (ZedgeCore.Operation, [AgentTask]) in
            let operationId = UUID.v7()
            var steps: [OperationStep] = []
            var tasks: [AgentTask] = []
            for id in ids {
                if service.store.database.engine == .postgres {
                    try await db.raw("SELECT id FROM instances WHERE id = \(bind: id) FOR UPDATE").run()
                }
                guard var instance = try await service.tables.instances.find(id, on: db) else { continue }
                let vm = try await instance.virtualMachineId.asyncMap { try await service.tables.vms.find($0, on: db) } ?? nil
                let placed = instance.computeMachineId != nil && vm != nil && vm?.status != .deleted
                let label = "\(action == .start ? TaskKind.vmStart.rawValue : TaskKind.vmStop.rawValue) \(instance.name)"
                guard case .success(let transition) = InstanceLifecycle.request(action, status: instance.status, placed: placed),
                      let kind = transition.task, let machineId = instance.computeMachineId, var changedVm = vm else {
                    steps.append(OperationStep(name: "\(label) (skipped: \(instance.status.rawValue))", weight: 1, status: .skipped))
                    continue
                }
                let task = AgentTask(operationId: operationId, computeMachineId: machineId, kind: kind,
                                     payload: try service.payload(for: kind, vm: changedVm, instance: instance), createdAt: now, updatedAt: now)
                instance.status = transition.status
                instance.desiredStatus = transition.desiredStatus
                instance.updatedAt = now
                if transition.status != .running { instance.startedAt = nil }
                _ = try await service.tables.instances.update(instance, on: db)
                changedVm.status = action == .start ? .starting : .stopping
                changedVm.updatedAt = now
                _ = try await service.tables.vms.update(changedVm, on: db)
                tasks.append(task)
                steps.append(OperationStep(name: label, weight: 1, taskId: task.id))
            }
            var operation = ZedgeCore.Operation(
                id: operationId, kind: "instance-set.\(action.rawValue)", status: .queued, tenantId: tenantId, userId: principal.userId,
                resourceType: ResourceType.instanceSet.rawValue, resourceId: setId, steps: steps,
                progress: OperationStep.progress(of: steps), request: ["action": .string(action.rawValue)], createdAt: now, updatedAt: now)
            if tasks.isEmpty {
                operation.status = .succeeded
                operation.startedAt = now
                operation.endedAt = now
            }
            try await service.queue.insert(operation, tasks: tasks, on: db)
            return (operation, tasks)
        }
        queue.wake(tasks)
        return operation
    }
}
