import Foundation
import SQLKit
import ZedgeCore

/// The machines' and pools' capacity counters, the claims that explain them and the GPUs assigned with them
/// (DESIGN §5). Every method runs in a transaction the caller holds.
public protocol CapacityRepository: Sendable {
    /// Takes the first choice whose machine still has room (one conditional UPDATE each): the claim and the machine as
    /// it now is; nil when every one lost its room to others.
    func claim(_ ranked: [PlacementChoice], for instanceId: UUID, now: Date, in tx: Transaction) async throws
        -> (claim: CapacityClaim, machine: ComputeMachine)?
    /// Gives back every live claim of the instance, once.
    @discardableResult
    func release(instanceId: UUID, now: Date, in tx: Transaction) async throws -> [CapacityClaim]
    /// Gives back one claim, once.
    @discardableResult
    func release(claimId: UUID, now: Date, in tx: Transaction) async throws -> CapacityClaim?
    /// Passes `count` free GPUs of the machine to the instance; their PCI addresses.
    func assignGpus(_ count: Int, on machineId: UUID, to instanceId: UUID, in tx: Transaction) async throws -> [String]
    /// Makes the machine's GPU list what its agent reported.
    func syncGpus(machineId: UUID, addresses: [String], model: String?, in tx: Transaction) async throws
    /// The instance's live claim, if it holds one.
    func liveClaim(instanceId: UUID, in tx: Transaction) async throws -> CapacityClaim?
    /// Locks the pools' and the data center's rows (pools in id order) before machines of theirs change.
    func lockTotals(poolIds: [UUID], dataCenterId: UUID?, in tx: Transaction) async throws
    /// Sets the pool's and the data center's totals to the sums over their machines.
    func refreshTotals(poolId: UUID?, dataCenterId: UUID?, in tx: Transaction) async throws
}

/// The machines' and pools' capacity counters and the claims that explain them (DESIGN §5).
///
/// A claim is one conditional UPDATE of the machine's allocated counters, checked by its row count, so two
/// placements can never take the same room, in one process or across replicas. Pools' allocated counters
/// move by the same amounts in the same transaction; totals are recomputed as sums over the machines.
/// Every method runs in a transaction the caller holds.
public struct SQLCapacityRepository: CapacityRepository {
    let claims = Tables.capacityClaims

    public init() {}

    /// Takes the first choice whose machine still has room and may still take work (ACTIVE, not CRITICAL, in an
    /// ACTIVE pool: a ranking from a view held in memory may predate a change); nil when every one lost its room or
    /// its standing to others.
    public func claim(
        _ ranked: [PlacementChoice], for instanceId: UUID, now: Date, in tx: Transaction
    ) async throws -> (claim: CapacityClaim, machine: ComputeMachine)? {
        for choice in ranked {
            let n = choice.claim
            let taken = try await tx.db.raw("""
                UPDATE compute_machines SET
                    allocated_cpu_cores = allocated_cpu_cores + \(bind: n.cpuCores),
                    allocated_memory_gb = allocated_memory_gb + \(bind: n.memoryGb),
                    allocated_storage_gb = allocated_storage_gb + \(bind: n.storageGb),
                    allocated_gpu_count = allocated_gpu_count + \(bind: n.gpuCount)
                WHERE id = \(bind: choice.machineId) AND status = 'ACTIVE' AND health_status <> 'CRITICAL'
                    AND EXISTS (SELECT 1 FROM resource_pools p WHERE p.id = compute_machines.resource_pool_id AND p.status = 'ACTIVE')
                    AND allocated_cpu_cores + \(bind: n.cpuCores) <= cpu_cores
                    AND allocated_memory_gb + \(bind: n.memoryGb) <= memory_gb
                    AND allocated_storage_gb + \(bind: n.storageGb) <= storage_gb
                    AND allocated_gpu_count + \(bind: n.gpuCount) <= COALESCE(gpu_count, 0)
                RETURNING *
                """).first()
            guard let taken else { continue }
            try await movePool(choice.resourcePoolId, by: n, sign: 1, in: tx)
            let claim = CapacityClaim(instanceId: instanceId, computeMachineId: choice.machineId,
                                      resourcePoolId: choice.resourcePoolId, amounts: n, createdAt: now)
            try await claims.insert(claim, on: tx.db)
            return (claim, try RowCodec.decode(ComputeMachine.self, from: taken))
        }
        return nil
    }

    /// Gives back every live claim of the instance, once: a second call finds none live and changes nothing.
    @discardableResult
    public func release(instanceId: UUID, now: Date, in tx: Transaction) async throws -> [CapacityClaim] {
        let released = try await tx.db.raw("""
            UPDATE capacity_claims SET released_at = \(bind: now)
            WHERE instance_id = \(bind: instanceId) AND released_at IS NULL
            RETURNING *
            """).all().map { try RowCodec.decode(CapacityClaim.self, from: $0) }
        for claim in released { try await giveBack(claim, in: tx) }
        if !released.isEmpty { try await freeGpus(of: instanceId, in: tx) }
        return released
    }

    /// Gives back one claim, once.
    @discardableResult
    public func release(claimId: UUID, now: Date, in tx: Transaction) async throws -> CapacityClaim? {
        guard let claim = try await tx.db.raw("""
            UPDATE capacity_claims SET released_at = \(bind: now) WHERE id = \(bind: claimId) AND released_at IS NULL RETURNING *
            """).first().map({ try RowCodec.decode(CapacityClaim.self, from: $0) }) else { return nil }
        try await giveBack(claim, in: tx)
        try await freeGpus(of: claim.instanceId, machine: claim.computeMachineId, in: tx)
        return claim
    }

    func giveBack(_ claim: CapacityClaim, in tx: Transaction) async throws {
        let n = claim.amounts
        try await tx.db.raw("""
            UPDATE compute_machines SET
                allocated_cpu_cores = allocated_cpu_cores - \(bind: n.cpuCores),
                allocated_memory_gb = allocated_memory_gb - \(bind: n.memoryGb),
                allocated_storage_gb = allocated_storage_gb - \(bind: n.storageGb),
                allocated_gpu_count = allocated_gpu_count - \(bind: n.gpuCount)
            WHERE id = \(bind: claim.computeMachineId)
            """).run()
        try await movePool(claim.resourcePoolId, by: n, sign: -1, in: tx)
    }

    /// Passes `count` of the machine's free GPUs to the instance (lowest PCI addresses first) and returns their
    /// addresses. Call it in the claim's transaction: the claim's UPDATE holds the machine's row, so two
    /// claimers on one machine take turns. Machines whose agent lists no addresses yield none.
    public func assignGpus(_ count: Int, on machineId: UUID, to instanceId: UUID, in tx: Transaction) async throws -> [String] {
        guard count > 0 else { return [] }
        let free = try await tx.db.raw("""
            SELECT id, pci_address FROM machine_gpus WHERE compute_machine_id = \(bind: machineId) AND instance_id IS NULL
            ORDER BY pci_address LIMIT \(bind: count)
            """).all()
        var assigned: [String] = []
        for row in free {
            let id = try row.decode(column: "id", as: UUID.self)
            let taken = try await tx.db.raw("""
                UPDATE machine_gpus SET instance_id = \(bind: instanceId) WHERE id = \(bind: id) AND instance_id IS NULL RETURNING id
                """).all().count == 1
            if taken { assigned.append(try row.decode(column: "pci_address", as: String.self)) }
        }
        return assigned
    }

    /// Frees the GPUs the instance holds (on one machine, or on all).
    public func freeGpus(of instanceId: UUID, machine machineId: UUID? = nil, in tx: Transaction) async throws {
        if let machineId {
            try await tx.db.raw("""
                UPDATE machine_gpus SET instance_id = NULL WHERE instance_id = \(bind: instanceId) AND compute_machine_id = \(bind: machineId)
                """).run()
        } else {
            try await tx.db.raw("UPDATE machine_gpus SET instance_id = NULL WHERE instance_id = \(bind: instanceId)").run()
        }
    }

    /// Makes the machine's GPU list what its agent reported: new addresses are added, vanished free ones
    /// removed (an assigned one stays until its instance lets go).
    public func syncGpus(machineId: UUID, addresses: [String], model: String?, in tx: Transaction) async throws {
        let wanted = Set(addresses.map { $0.lowercased() })
        let existing = try await tx.db.raw("SELECT pci_address FROM machine_gpus WHERE compute_machine_id = \(bind: machineId)").all()
            .map { try $0.decode(column: "pci_address", as: String.self) }
        for address in wanted.subtracting(existing).sorted() {
            try await tx.db.raw("""
                INSERT INTO machine_gpus (id, compute_machine_id, pci_address, model, instance_id)
                VALUES (\(bind: UUID.v7()), \(bind: machineId), \(bind: address), \(bind: model), NULL)
                """).run()
        }
        for address in Set(existing).subtracting(wanted) {
            try await tx.db.raw("""
                DELETE FROM machine_gpus WHERE compute_machine_id = \(bind: machineId) AND pci_address = \(bind: address) AND instance_id IS NULL
                """).run()
        }
    }

    /// The instance's live claim, if it holds one.
    public func liveClaim(instanceId: UUID, in tx: Transaction) async throws -> CapacityClaim? {
        try await tx.db.raw("SELECT * FROM capacity_claims WHERE instance_id = \(bind: instanceId) AND released_at IS NULL")
            .first().map { try RowCodec.decode(CapacityClaim.self, from: $0) }
    }

    /// On PostgreSQL, locks the pools' and the data center's rows for the transaction (pools in id order),
    /// before anything else touches machines of theirs.
    public func lockTotals(poolIds: [UUID], dataCenterId: UUID?, in tx: Transaction) async throws {
        for poolId in Set(poolIds).sorted(by: { $0.uuidString < $1.uuidString }) { try await tx.lock(Tables.resourcePools, poolId) }
        if let dataCenterId { try await tx.lock(Tables.edgeDataCenters, dataCenterId) }
    }

    /// Sets the pool's and the data center's totals to the sums over their machines. Call it in the
    /// transaction that adds, changes or removes a machine. On PostgreSQL the rows are locked first, so two
    /// such transactions cannot each write a sum that misses the other's machine.
    public func refreshTotals(poolId: UUID?, dataCenterId: UUID?, in tx: Transaction) async throws {
        if let poolId {
            try await tx.lock(Tables.resourcePools, poolId)
            try await refreshTotals(of: "resource_pools", id: poolId, machinesBy: "resource_pool_id", in: tx)
        }
        if let dataCenterId {
            try await tx.lock(Tables.edgeDataCenters, dataCenterId)
            try await refreshTotals(of: "edge_data_centers", id: dataCenterId, machinesBy: "edge_data_center_id", in: tx)
        }
    }

    /// `table`'s row `id` gets the sums of the sizes of the machines whose `column` names it, read in one pass over
    /// those machines (a row-value assignment, SQLite 3.15+ and PostgreSQL: four subqueries read them four times,
    /// which at 10,000 machines in one pool held the writer ~7 ms a registration).
    func refreshTotals(of table: String, id: UUID, machinesBy column: String, in tx: Transaction) async throws {
        try await tx.db.raw("""
            UPDATE \(unsafeRaw: table) SET (total_cpu_cores, total_memory_gb, total_storage_gb, total_gpu_count) = (
                SELECT COALESCE(SUM(COALESCE(cpu_cores, 0)), 0), COALESCE(SUM(COALESCE(memory_gb, 0)), 0),
                    COALESCE(SUM(COALESCE(storage_gb, 0)), 0), COALESCE(SUM(COALESCE(gpu_count, 0)), 0)
                FROM compute_machines WHERE \(unsafeRaw: column) = \(bind: id))
            WHERE id = \(bind: id)
            """).run()
    }

    func movePool(_ poolId: UUID, by n: ClaimAmounts, sign: Int, in tx: Transaction) async throws {
        try await tx.db.raw("""
            UPDATE resource_pools SET
                allocated_cpu_cores = allocated_cpu_cores + \(bind: sign * n.cpuCores),
                allocated_memory_gb = allocated_memory_gb + \(bind: sign * n.memoryGb),
                allocated_storage_gb = allocated_storage_gb + \(bind: sign * n.storageGb),
                allocated_gpu_count = allocated_gpu_count + \(bind: sign * n.gpuCount)
            WHERE id = \(bind: poolId)
            """).run()
    }
}
