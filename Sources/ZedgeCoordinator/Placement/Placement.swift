import Foundation
import ZedgeCore

/// Where an instance goes (DESIGN §6): the candidates (every machine of the pool, or of every COMPUTE pool, with
/// heartbeats as they arrive: held in memory by `PlacementView` for creates, read afresh for a move), the pure
/// `PlacementEngine` ranking them, and the claim, one conditional UPDATE per ranked machine until one still has room.
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
    /// The fleet held in memory, which creates rank over.
    let view: PlacementView

    public init(
        hosts: any HostRepository, pools: any ModelRepository<ResourcePool>, capacity: any CapacityRepository,
        cachedImages: (any CachedImageRepository)? = nil, engine: PlacementEngine, liveness: LivenessTracker?,
        metrics: ReplicaMetrics? = nil, viewMaxAge: Duration = .seconds(2)
    ) {
        self.hosts = hosts
        self.pools = pools
        self.capacity = capacity
        self.cachedImages = cachedImages
        self.engine = engine
        self.liveness = liveness
        self.metrics = metrics
        self.view = PlacementView(hosts: hosts, pools: pools, liveness: liveness, maxAge: viewMaxAge)
    }

    /// The pool's scheduling policy (`load_balance` without a pool); 400 naming `resourcePoolId` for a pool that
    /// does not exist or is not COMPUTE. Checked before the claiming transaction.
    public func policy(poolId: UUID?) async throws -> SchedulingPolicy {
        guard let poolId else { return .loadBalance }
        return SchedulingPolicy(poolPolicy: try await view.pool(poolId).schedulingPolicy)
    }

    /// A ranking over the fleet in memory, taken before the claiming transaction (which on SQLite holds the one
    /// connection, so the fleet cannot be read inside it).
    public struct Ranking: Sendable {
        var request: PlacementRequest
        var decision: PlacementDecision
        /// Read afresh rather than from a view up to `maxAge` old: its refusal is final.
        var fresh: Bool
        /// The room the placement holds in the view until its transaction ends (`PlacementView.Assumption`).
        var assumption: PlacementView.Assumption? = nil
    }

    /// A ranking from a view that may be stale refused, or every choice was taken: `withRanking` reads the fleet
    /// afresh and runs its body again.
    struct StaleRanking: Error {}

    /// Runs `body` (the claiming transaction) with a ranking of the fleet in memory (`PlacementView`) for the
    /// request, only `poolId`'s machines when given; `image` (a SHA-256): machines whose agents hold it rank first
    /// among equals. When `claim` refuses from a view that may be stale, the fleet is read afresh and `body` runs
    /// once more, so a 409 never comes from a stale view. `body` is the claiming transaction: the placement's room
    /// stays assumed in the view until it returns (committed) or throws (rolled back).
    public func withRanking<T: Sendable>(
        _ request: PlacementRequest, poolId: UUID?, image: String?, now: Date, _ body: (Ranking) async throws -> T
    ) async throws -> T {
        let holders: Set<UUID> = if let image, let cachedImages { try await cachedImages.holders(of: image) } else { [] }
        func attempt(fresh: Bool) async throws -> T {
            if fresh { try await view.load() }
            // After a fresh read the pool is checked against it too (gone since: 400, not a 409 over no machines).
            let policy = try await policy(poolId: poolId)
            let (decision, assumption) = try await view.rankAssuming(
                request, poolId: poolId, policy: policy, engine: engine, now: now, imageHolders: holders, limit: Self.choicesTried)
            // `body` is the claiming transaction: it returns once committed, and throws when it was not.
            do {
                let result = try await body(Ranking(request: request, decision: decision, fresh: fresh, assumption: assumption))
                view.ended(assumption, committed: true)
                return result
            } catch {
                view.ended(assumption, committed: false)
                throw error
            }
        }
        do {
            return try await attempt(fresh: false)
        } catch is StaleRanking {
            return try await attempt(fresh: true)
        }
    }

    /// Claims the first machine of the ranking that still has room, with its GPUs, in the caller's transaction.
    /// 409 "No capacity: …" saying why nothing fits, or that concurrent placements took the machines that did
    /// (`StaleRanking` instead, for `withRanking` to try afresh, when the ranking came from the view).
    public func claim(_ ranking: Ranking, for instanceId: UUID, now: Date, in tx: Transaction) async throws -> Placed {
        let decision = ranking.decision
        guard !decision.ranked.isEmpty else {
            guard ranking.fresh else { throw StaleRanking() }
            metrics?.placementRefused(Self.refusal(decision))
            throw DomainError.conflict("No capacity: " + decision.summary(for: ranking.request))
        }
        guard let (claim, machine) = try await capacity.claim(decision.ranked, for: instanceId, now: now, in: tx) else {
            view.claimed(nil, for: ranking.assumption)
            guard ranking.fresh else { throw StaleRanking() }
            metrics?.placementRefused(.lostRace)
            throw DomainError.conflict(Self.lostRace(decision))
        }
        view.claimed(claim, for: ranking.assumption)
        let gpus = try await capacity.assignGpus(claim.gpuCount, on: machine.id, to: instanceId, in: tx)
        return Placed(machine: machine, claim: claim, gpuAddresses: gpus)
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
        // Candidates read for this request: its refusal is final.
        return try await claim(Ranking(request: request, decision: decision, fresh: true), for: instanceId, now: now, in: tx)
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
        view.released(try await capacity.release(instanceId: instanceId, now: now, in: tx))
    }

    /// Moves an instance's claim: a new one on another machine is taken before the old one is given back.
    public func move(
        _ request: PlacementRequest, among candidates: [PlacementCandidate], for instanceId: UUID, now: Date, in tx: Transaction
    ) async throws -> Placed {
        let old = try await capacity.liveClaim(instanceId: instanceId, in: tx)
        let placed = try await place(request, among: candidates, poolId: nil, for: instanceId, now: now, in: tx)
        if let old, let released = try await capacity.release(claimId: old.id, now: now, in: tx) { view.released([released]) }
        return placed
    }
}
