import Foundation
import Synchronization
import ZedgeCore

/// Every COMPUTE machine as placement sees it, held in memory (a `PlacementIndex`) so that a create ranks
/// machines without reading the fleet (issue #14: re-reading and decoding 1,000 machines was most of a create's
/// cost).
///
/// How current it is:
/// - read whole when first used and again once older than `maxAge` (other replicas' claims, new machines, status
///   and health changes), by one caller at a time while the others rank over the copy they have;
/// - this process's claims and releases are applied as they are taken, and a placement's first choice from its
///   ranking to its claim (`Assumption`);
/// - heartbeats as they arrived (`LivenessTracker`) are merged into each read, so they are at most `maxAge` old
///   (against a freshness of three heartbeat intervals).
///
/// A stale view never places wrongly: the claim's conditional UPDATE re-checks the room, the machine's status and
/// health and the pool's status (`SQLCapacityRepository.claim`), and `Placement` reads the view afresh before it
/// answers that nothing fits or that every choice was taken.
public final class PlacementView: Sendable {
    let hosts: any HostRepository
    let pools: any ModelRepository<ResourcePool>
    let liveness: LivenessTracker?
    /// The oldest a view may be before a placement reads the fleet again.
    let maxAge: Duration

    private struct State {
        var index = PlacementIndex()
        /// The COMPUTE pools, by id.
        var pools: [UUID: ResourcePool] = [:]
        var loadedAt: ContinuousClock.Instant?
        var loading = false
        /// Counts the reads that replaced the index: an assumption made on an index since replaced is not in it.
        var generation = 0
    }

    private let state = Mutex(State())

    public init(hosts: any HostRepository, pools: any ModelRepository<ResourcePool>, liveness: LivenessTracker?,
                maxAge: Duration = .seconds(2)) {
        self.hosts = hosts
        self.pools = pools
        self.liveness = liveness
        self.maxAge = maxAge
    }

    /// The COMPUTE pool `id` as the view knows it (read afresh when unknown), or a 400 naming `resourcePoolId` for
    /// a pool that does not exist or is not COMPUTE.
    public func pool(_ id: UUID) async throws -> ResourcePool {
        if let pool = state.withLock({ $0.pools[id] }) { return pool }
        guard let pool = try await pools.find(id) else { throw DomainError.invalid(field: "resourcePoolId", "no such resource pool") }
        guard pool.poolType == .compute else { throw DomainError.invalid(field: "resourcePoolId", "is not a COMPUTE pool") }
        try await load()
        return pool
    }

    /// A placement between its ranking and its claim. The room of its first choice counts as taken in the view from
    /// the ranking on, so that the creates ranking meanwhile see it and go elsewhere; Kubernetes' scheduler likewise
    /// "assumes" a pod on its node until the binding lands. Without it, the creates that ranked while the claiming
    /// transactions queued for the writer all chose the same least-utilised machine (issue #14: with 32 creates in
    /// flight over 1,000 machines, load_balance gave 1 to 28 instances a machine where it spreads 6 or 7, and most
    /// tasks found their machine's long-poll already taken by the one before).
    public final class Assumption: Sendable {
        let choice: PlacementChoice
        let generation: Int
        fileprivate let settled = Atomic<Bool>(false)

        init(choice: PlacementChoice, generation: Int) {
            self.choice = choice
            self.generation = generation
        }
    }

    /// Ranks the view's machines for the request (`PlacementEngine.place(_:in:…)`), only those of `poolId` when
    /// given, reading the fleet first when the view is older than `maxAge`; in the same step it assumes the first
    /// choice (`Assumption`; nil when nothing fits). Settle it (`settle(_:claimed:)`) however the placement ends.
    public func rankAssuming(
        _ request: PlacementRequest, poolId: UUID?, policy: SchedulingPolicy, engine: PlacementEngine, now: Date,
        imageHolders: Set<UUID>, limit: Int
    ) async throws -> (decision: PlacementDecision, assumption: Assumption?) {
        try await loadIfOld()
        return state.withLock { state in
            let decision = engine.place(request, in: state.index, policy: policy, now: now, imageHolders: imageHolders, limit: limit, pool: poolId)
            guard let first = decision.ranked.first else { return (decision, nil) }
            state.index.allocate(first.claim, on: first.machineId, sign: 1)
            return (decision, Assumption(choice: first, generation: state.generation))
        }
    }

    /// Ends an assumption: its room is given back (unless the view was read afresh since, which replaced it), and
    /// `claim`, the one this process took if any, is applied: its machine's allocated amounts move up at once. Only
    /// an assumption's first settling gives its room back.
    public func settle(_ assumption: Assumption?, claimed claim: CapacityClaim?) {
        let release = assumption.map { !$0.settled.exchange(true, ordering: .acquiringAndReleasing) } ?? false
        guard release || claim != nil else { return }
        state.withLock { state in
            if release, let assumption, assumption.generation == state.generation {
                state.index.allocate(assumption.choice.claim, on: assumption.choice.machineId, sign: -1)
            }
            if let claim { state.index.allocate(claim.amounts, on: claim.computeMachineId, sign: 1) }
        }
    }

    /// Claims this process gave back.
    public func released(_ claims: [CapacityClaim]) {
        guard !claims.isEmpty else { return }
        state.withLock { state in
            for claim in claims { state.index.allocate(claim.amounts, on: claim.computeMachineId, sign: -1) }
        }
    }

    /// Reads the fleet when the view was never read, or is older than `maxAge` and no one else is reading it.
    func loadIfOld() async throws {
        let now = ContinuousClock.now
        let (never, due) = state.withLock { state -> (Bool, Bool) in
            guard let at = state.loadedAt else { return (true, false) }
            guard now - at > maxAge, !state.loading else { return (false, false) }
            state.loading = true
            return (false, true)
        }
        if never {
            try await load()
        } else if due {
            do {
                try await load()
            } catch {
                state.withLock { $0.loading = false }
                throw error
            }
        }
    }

    /// Reads every COMPUTE pool and its machines, with heartbeats as they arrived, and replaces the view.
    func load() async throws {
        let started = ContinuousClock.now
        var byId: [UUID: ResourcePool] = [:]
        for pool in try await allPages({ try await pools.list(.init(filters: [PropertyFilter("poolType", .string("COMPUTE"))], page: $0)) }) {
            byId[pool.id] = pool
        }
        var index = PlacementIndex()
        for pool in byId.values { index.upsert(pool) }
        for var machine in try await hosts.machines(inPool: nil) {
            guard let pool = byId[machine.resourcePoolId] else { continue }
            if let beat = liveness?.latest(machine.id)?.at, beat > (machine.lastHeartbeat ?? .distantPast) { machine.lastHeartbeat = beat }
            index.upsert(machine, in: pool)
        }
        state.withLock { state in
            state.loading = false
            // A load that started after this one may have replaced the view with newer rows already.
            guard state.loadedAt.map({ $0 < started }) ?? true else { return }
            state.index = index
            state.pools = byId
            state.loadedAt = started
            state.generation += 1
        }
    }
}
