import Foundation
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
        return try await dispatcher.transaction { tx, submissions in
            var plan = OperationPlan(kind: "instance-set.\(action.rawValue)", tenantId: tenantId, userId: principal.userId,
                                     resourceType: ResourceType.instanceSet.rawValue, resourceId: setId,
                                     request: ["action": .string(action.rawValue)])
            for id in ids {
                guard var instance = try await service.instances.lock(id, in: tx) else { continue }
                let vm = try await instance.virtualMachineId.asyncMap { try await service.instances.virtualMachine($0, in: tx) } ?? nil
                let placed = instance.computeMachineId != nil && vm != nil && vm?.status != .deleted
                let label = "\(action == .start ? TaskKind.vmStart.rawValue : TaskKind.vmStop.rawValue) \(instance.name)"
                guard case .success(let transition) = InstanceLifecycle.request(action, status: instance.status, placed: placed),
                      let kind = transition.task, let machineId = instance.computeMachineId, var changedVm = vm else {
                    plan.settled("\(label) (skipped: \(instance.status.rawValue))", .skipped)
                    continue
                }
                plan.task(kind, for: .computeMachine(machineId), payload: try service.payload(for: kind, vm: changedVm), name: label)
                instance.status = transition.status
                instance.desiredStatus = transition.desiredStatus
                instance.updatedAt = now
                if transition.status != .running { instance.startedAt = nil }
                try await service.instances.update(instance, in: tx)
                changedVm.status = action == .start ? .starting : .stopping
                changedVm.updatedAt = now
                try await service.instances.update(changedVm, in: tx)
            }
            return try await submissions.submit(plan, now: now)
        }
    }
}
