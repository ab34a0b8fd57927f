import Foundation
import ZedgeCore

/// Where an instance goes (DESIGN §6): the candidate query (every machine of the pool, or of every COMPUTE
/// pool, with heartbeats as they arrive), the pure `PlacementEngine` ranking them, and the claim, one
/// conditional UPDATE per ranked machine until one still has room. `place` is the one entry point.
public struct Placement: Sendable {
    let hosts: any HostRepository
    let pools: any ModelRepository<ResourcePool>
    let capacity: any CapacityRepository
    let cachedImages: (any CachedImageRepository)?
    let engine: PlacementEngine
    /// Heartbeats as they arrive (the database's lastHeartbeat lags by up to one liveness flush).
    let liveness: LivenessTracker?
    /// Counts refusals by reason.
    let metrics: ReplicaMetrics?

    public init(
        hosts: any HostRepository, pools: any ModelRepository<ResourcePool>, capacity: any CapacityRepository,
        cachedImages: (any CachedImageRepository)? = nil, engine: PlacementEngine, liveness: LivenessTracker?,
        metrics: ReplicaMetrics? = nil
    ) {
        self.hosts = hosts
        self.pools = pools
        self.capacity = capacity
        self.cachedImages = cachedImages
        self.engine = engine
        self.liveness = liveness
        self.metrics = metrics
    }

    /// A claim taken: the machine the instance now holds room on, the claim, and its GPUs' PCI addresses.
    public struct Placed: Sendable {
        public var machine: ComputeMachine
        public var claim: CapacityClaim
        public var gpuAddresses: [String]
    }

    /// The machines that could take work, with their pools: the snapshot the engine ranks. Read outside the
    /// claiming transaction; the claim re-checks the room. 400 naming `resourcePoolId` for a pool that does not
    /// exist or is not COMPUTE. With `image` (a SHA-256), each candidate says whether its agent holds that image.
    public func candidates(poolId: UUID?, excluding excluded: UUID? = nil, image: String? = nil) async throws -> [PlacementCandidate] {
        var byId: [UUID: ResourcePool] = [:]
        if let poolId {
            guard let pool = try await pools.find(poolId) else { throw DomainError.invalid(field: "resourcePoolId", "no such resource pool") }
            guard pool.poolType == .compute else { throw DomainError.invalid(field: "resourcePoolId", "is not a COMPUTE pool") }
            byId[pool.id] = pool
        } else {
            for pool in try await allPages({ try await pools.list(.init(filters: [PropertyFilter("poolType", .string("COMPUTE"))], page: $0)) }) {
                byId[pool.id] = pool
            }
        }
        let holders: Set<UUID> = if let image, let cachedImages { try await cachedImages.holders(of: image) } else { [] }
        return try await hosts.machines(inPool: poolId).compactMap { machine in
            guard machine.id != excluded, let pool = byId[machine.resourcePoolId] else { return nil }
            var machine = machine
            if let beat = liveness?.latest(machine.id)?.at, beat > (machine.lastHeartbeat ?? .distantPast) { machine.lastHeartbeat = beat }
            return PlacementCandidate(machine: machine, pool: pool, holdsImage: holders.contains(machine.id))
        }
    }

    /// Ranks `candidates` for the request by the pool's policy (`load_balance` without a pool) and claims the
    /// first machine that still has room, with its GPUs, in the caller's transaction. 409 "No capacity: …"
    /// saying why nothing fits, or that concurrent placements took the machines that did.
    public func place(
        _ request: PlacementRequest, among candidates: [PlacementCandidate], poolId: UUID?, for instanceId: UUID, now: Date,
        in tx: Transaction
    ) async throws -> Placed {
        let policy = poolId.flatMap { id in candidates.first { $0.pool.id == id }?.pool.schedulingPolicy }
            .map(SchedulingPolicy.init(poolPolicy:)) ?? .loadBalance
        let decision = engine.place(request, among: candidates, policy: policy, now: now, limit: Self.choicesTried)
        guard !decision.ranked.isEmpty else {
            metrics?.placementRefused(Self.refusal(decision))
            throw DomainError.conflict("No capacity: " + decision.summary(for: request))
        }
        guard let claim = try await capacity.claim(decision.ranked, for: instanceId, now: now, in: tx) else {
            metrics?.placementRefused(.lostRace)
            throw DomainError.conflict(Self.lostRace(decision))
        }
        guard let machine = try await hosts.machine(claim.computeMachineId, in: tx) else {
            throw DomainError.conflict("The chosen machine was removed; try again.")
        }
        let gpus = try await capacity.assignGpus(claim.gpuCount, on: machine.id, to: instanceId, in: tx)
        return Placed(machine: machine, claim: claim, gpuAddresses: gpus)
    }

    /// The 409 when every machine tried was taken between the snapshot and the claim: how many were tried of how many
    /// fitted (a claim tries the best `choicesTried`, not every fit).
    static func lostRace(_ decision: PlacementDecision) -> String {
        let tried = decision.ranked.count == decision.fitted
            ? "the \(decision.fitted) machine(s) that fitted"
            : "the best \(decision.ranked.count) of the \(decision.fitted) machines that fitted"
        return "No capacity: \(tried) were taken by concurrent placements; try again."
    }

    /// How many of the best machines a claim tries before it answers that concurrent placements took them.
    static let choicesTried = 32

    /// Why a decision that ranked no machine refuses: no candidates at all, or the rejection that turned away
    /// the most machines (the first in `PlacementRejection.allCases`, the 409's order, on a tie).
    static func refusal(_ decision: PlacementDecision) -> PlacementRefusal {
        var top: (reason: PlacementRejection, count: Int)?
        for reason in PlacementRejection.allCases {
            if let n = decision.rejections[reason], n > (top?.count ?? 0) { top = (reason, n) }
        }
        return top.map { .rejected($0.reason) } ?? .noCandidates
    }

    /// Gives back every live claim of the instance (and its GPUs), once.
    public func release(instanceId: UUID, now: Date, in tx: Transaction) async throws {
        try await capacity.release(instanceId: instanceId, now: now, in: tx)
    }

    /// Moves an instance's claim: a new one on another machine is taken before the old one is given back.
    public func move(
        _ request: PlacementRequest, among candidates: [PlacementCandidate], for instanceId: UUID, now: Date, in tx: Transaction
    ) async throws -> Placed {
        let old = try await capacity.liveClaim(instanceId: instanceId, in: tx)
        let placed = try await place(request, among: candidates, poolId: nil, for: instanceId, now: now, in: tx)
        if let old { try await capacity.release(claimId: old.id, now: now, in: tx) }
        return placed
    }
}
