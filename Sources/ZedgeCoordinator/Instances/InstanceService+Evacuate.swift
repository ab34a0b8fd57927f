import Foundation
import SQLKit
import ZedgeCore

extension InstanceService {
    /// Moves every live instance off a machine, on an operator's explicit request (never by itself): each is
    /// placed again elsewhere (its claim moves in the same transaction), rebuilt there from its snapshotted
    /// config with `vm.create`, and its old domain gets `vm.delete`, delivered whenever the old host comes
    /// back. Local disks are not copied: an evacuated instance starts from its image again. Instances that fit
    /// nowhere stay and their step says why.
    public func evacuate(machineId: UUID, by principal: Principal, now: Date = Date()) async throws -> ZedgeCore.Operation {
        guard let source = try await store.computeMachines.find(machineId) else { throw Problem.notFound("Compute machine") }
        let residents = try await store.database.sql.raw("""
            SELECT * FROM instances WHERE compute_machine_id = \(bind: machineId) AND status NOT IN ('DELETED', 'DELETING')
            """).all().map { try RowCodec.decode(Instance.self, from: $0) }
        let candidates = try await candidates(poolId: nil).filter { $0.machine.id != machineId }
        let service = self
        let operationId = UUID.v7()
        let (operation, tasks) = try await store.database.transaction { db -> (ZedgeCore.Operation, [AgentTask]) in
            var steps: [OperationStep] = []
            var tasks: [AgentTask] = []
            for resident in residents {
                guard var instance = try await service.tables.instances.find(resident.id, on: db),
                      instance.computeMachineId == machineId,
                      let vmId = instance.virtualMachineId, var vm = try await service.tables.vms.find(vmId, on: db),
                      let config = try instance.config?.decode(as: ResolvedInstanceConfig.self),
                      let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else { continue }
                let request = PlacementRequest(resources: config.resources, gpuModel: config.gpuModel,
                                               rentalMode: instance.rentalMode ?? .shared, hypervisorType: nil)
                let decision = service.engine.place(request, among: candidates, policy: .loadBalance, now: now)
                let old = try await service.ledger.liveClaim(instanceId: instance.id, on: db)
                guard let claim = try await service.ledger.claim(decision.ranked, for: instance.id, now: now, on: db),
                      let target = try await service.tables.machines.find(claim.computeMachineId, on: db) else {
                    // Nowhere to go: it keeps its place (and its claim) on the old machine.
                    steps.append(OperationStep(name: "move \(instance.name) (failed: \(decision.summary(for: request)))", weight: 1, status: .failed))
                    continue
                }
                if let old { try await service.ledger.release(claimId: old.id, now: now, on: db) }
                vm.computeMachineId = target.id
                vm.status = .creating
                vm.updatedAt = now
                let gpus = try await service.ledger.assignGpus(claim.gpuCount, on: target.id, to: instance.id, on: db)
                var vmConfig = vm.config?.objectValue ?? [:]
                vmConfig["consoleHost"] = .string(target.managementIp)
                vmConfig["gpuPciAddresses"] = .array(gpus.map { .string($0) })
                vm.config = .object(vmConfig)
                _ = try await service.tables.vms.update(vm, on: db)
                instance.computeMachineId = target.id
                instance.resourcePoolId = claim.resourcePoolId
                instance.status = .creating
                instance.startedAt = nil
                instance.updatedAt = now
                _ = try await service.tables.instances.update(instance, on: db)
                let create = AgentTask(operationId: operationId, computeMachineId: target.id, kind: .vmCreate,
                                       payload: try JSONValue(encoding: VmCreatePayload(
                                        spec: try service.spec(for: vm, machine: target, config: config),
                                        start: instance.desiredStatus == .running)), createdAt: now, updatedAt: now)
                let cleanup = AgentTask(operationId: operationId, computeMachineId: machineId, kind: .vmDelete,
                                        payload: try JSONValue(encoding: VmRefPayload(vmUuid: uuid, vmName: vm.vmName)),
                                        maxAttempts: 1000, createdAt: now, updatedAt: now)
                tasks += [create, cleanup]
                steps.append(OperationStep(name: "create \(instance.name) on \(target.name)", weight: 3, taskId: create.id))
                steps.append(OperationStep(name: "remove \(instance.name) from \(source.name)", weight: 1, taskId: cleanup.id))
            }
            var operation = ZedgeCore.Operation(
                id: operationId, kind: "compute-machine.evacuate", status: tasks.isEmpty ? .succeeded : .running, userId: principal.userId,
                resourceType: ResourceType.server.rawValue, resourceId: machineId, steps: steps,
                progress: OperationStep.progress(of: steps), request: ["machineId": .string(machineId.uuidString)],
                createdAt: now, updatedAt: now, startedAt: now)
            if steps.contains(where: { $0.status == .failed }) { operation.status = .failed; operation.error = "some instances fit nowhere" }
            if operation.status != .running { operation.endedAt = now }
            try await service.queue.insert(operation, tasks: tasks, on: db)
            return (operation, tasks)
        }
        queue.wake(tasks)
        return operation
    }
}
