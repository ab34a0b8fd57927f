import ZedgeCore
@testable import ZedgeCoordinator

/// Rows for tests that need compute machines without agents: a data center, a pool and `count` ACTIVE, HEALTHY
/// 4-core machines in it (`h0`, `h1`, … at 10.1.0.1, …).
enum MachineFixture {
    static func machines(_ count: Int, in store: Store) async throws -> [ComputeMachine] {
        let center = EdgeDataCenter(name: "dc", location: "here", status: .active)
        try await store.edgeDataCenters.insert(center)
        let pool = ResourcePool(name: "pool", edgeDataCenterId: center.id)
        try await store.resourcePools.insert(pool)
        var machines: [ComputeMachine] = []
        for i in 0..<count {
            let machine = ComputeMachine(
                hostname: "h\(i)", name: "h\(i)", edgeDataCenterId: center.id, resourcePoolId: pool.id, machineType: .cpuServer,
                rentalMode: .shared, hypervisorType: .kvm, cpuCores: 4, memoryGb: 8, storageGb: 100, managementIp: "10.1.0.\(i + 1)",
                status: .active, healthStatus: .healthy)
            try await store.computeMachines.insert(machine)
            machines.append(machine)
        }
        return machines
    }
}
