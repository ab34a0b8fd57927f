import Foundation
import ZedgeCore

extension InstanceService {
    /// Moves every live instance off a machine, on an operator's explicit request (never by itself): each is
    /// placed again elsewhere (its claim moves in the same transaction), rebuilt there from its snapshotted
    /// config with `vm.create`, and its old domain gets `vm.delete`, delivered whenever the old host comes
    /// back. Local disks are not copied: an evacuated instance starts from its image again; its private data
    /// disks (Ceph RBD, shared by the data center's hosts) are attached again with their data. Instances that fit
    /// nowhere stay and their step says why.
    public func evacuate(machineId: UUID, by principal: Principal, now: Date = Date()) async throws -> ZedgeCore.Operation {
        guard let source = try await computeMachines.find(machineId) else { throw DomainError.notFound("Compute machine") }
        let residents = try await instances.residents(of: machineId)
        let candidates = try await placement.candidates(poolId: nil, excluding: machineId)
        var dataDisks: [UUID: (disks: [DiskSpec], clusters: [RbdCluster])] = [:]
        for resident in residents { dataDisks[resident.id] = try await diskAttachments.dataDisks(instanceId: resident.id) }
        let service = self, attached = dataDisks
        return try await dispatcher.transaction { tx, submissions in
            var plan = OperationPlan(kind: "compute-machine.evacuate", userId: principal.userId, resourceType: ResourceType.server.rawValue,
                                     resourceId: machineId, request: ["machineId": .string(machineId.uuidString)])
            plan.startsRunning = true
            plan.error = "some instances fit nowhere"
            for resident in residents {
                guard var instance = try await service.instances.lock(resident.id, in: tx),
                      instance.computeMachineId == machineId,
                      let vmId = instance.virtualMachineId, var vm = try await service.instances.virtualMachine(vmId, in: tx),
                      let config = try instance.config?.decode(as: ResolvedInstanceConfig.self),
                      let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else { continue }
                // NICs keep their addresses, which live in the source's data center: stay there, on OVS. Data disks
                // live in the data center's Ceph cluster: stay there too, and they are attached again on the target.
                let hasNics = !(config.networks ?? []).isEmpty
                let disks = attached[instance.id] ?? ([], [])
                let request = PlacementRequest(resources: config.resources, gpuModel: config.gpuModel,
                                               rentalMode: instance.rentalMode ?? .shared, hypervisorType: nil,
                                               edgeDataCenterId: hasNics || !disks.disks.isEmpty ? source.edgeDataCenterId : nil,
                                               needsIntegrationBridge: hasNics)
                let placed: Placement.Placed
                do {
                    placed = try await service.placement.move(request, among: candidates, for: instance.id, now: now, in: tx)
                } catch let error as DomainError where error.kind == .conflict {
                    // Nowhere to go: it keeps its place (and its claim) on the old machine.
                    plan.settled("move \(instance.name) (failed: \(error.message))", .failed)
                    continue
                }
                let target = placed.machine
                vm.computeMachineId = target.id
                vm.status = .creating
                vm.updatedAt = now
                var vmConfig = vm.config?.objectValue ?? [:]
                vmConfig["consoleHost"] = .string(target.managementIp)
                vmConfig["gpuPciAddresses"] = .array(placed.gpuAddresses.map { .string($0) })
                vm.config = .object(vmConfig)
                try await service.instances.update(vm, in: tx)
                instance.computeMachineId = target.id
                instance.resourcePoolId = placed.claim.resourcePoolId
                instance.status = .creating
                instance.startedAt = nil
                instance.updatedAt = now
                try await service.instances.update(instance, in: tx)
                try plan.task(.vmCreate, for: .computeMachine(target.id),
                              typed: try service.specs.createPayload(for: vm, instance: instance, machine: target, config: config,
                                                                     start: instance.desiredStatus == .running, dataDisks: disks),
                              name: "create \(instance.name) on \(target.name)", weight: 3)
                plan.task(.vmDelete, for: .computeMachine(machineId),
                          payload: try JSONValue(encoding: VmRefPayload(vmUuid: uuid, vmName: vm.vmName)),
                          name: "remove \(instance.name) from \(source.name)", maxAttempts: 1000)
            }
            return try await submissions.submit(plan, now: now)
        }
    }
}
