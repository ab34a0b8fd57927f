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
/// - this process's claims and releases are applied as they are taken, and a create's room from its ranking on
///   (`Assumption`);
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
        /// The room each placement in flight holds (`Assumption`), by its id: counted in `index`.
        var assumed: [UInt64: Assumed] = [:]
        var nextAssumption: UInt64 = 0
        /// The room of placements that committed lately, in commit order (`commits` numbers them): a read of the
        /// fleet that started before one committed may not have seen it, so the read's index gets it added.
        var committed: [(commit: Int, room: Assumed)] = []
        var commits = 0
    }

    /// The room a placement holds: on its first choice from its ranking, on the machine it claimed from its claim.
    struct Assumed {
        var machineId: UUID
        var amounts: ClaimAmounts
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

    /// A placement between its ranking and the end of its claiming transaction. Its room counts as taken in the view
    /// all along, so that the creates ranking meanwhile see it and go elsewhere: from the ranking on, on its first
    /// choice; from the claim on, on the machine claimed. Kubernetes' scheduler likewise "assumes" a pod on its node
    /// until the binding lands. A read of the fleet that replaces the view keeps it (the read cannot have seen an
    /// uncommitted claim), and keeps the placements that committed after the read began.
    ///
    /// Without it the creates that ranked while the claiming transactions queued for the writer all chose the same
    /// least-utilised machine (issue #14: 17 concurrent creates on six like machines gave 2 to 5 instances a machine
    /// on SQLite and 0 to 8 on PostgreSQL where load_balance places 3 on each; under `zedge-bench creates` two creates
    /// on one machine came a median 0.7 ms apart, and most tasks found its long-poll already taken by the one before).
    public struct Assumption: Sendable {
        let id: UInt64
    }

    /// Ranks the view's machines for the request (`PlacementEngine.place(_:in:…)`), only those of `poolId` when
    /// given, reading the fleet first when the view is older than `maxAge`; in the same step it assumes the first
    /// choice (`Assumption`; nil when nothing fits). End it (`ended(_:committed:)`) however the placement ends.
    public func rankAssuming(
        _ request: PlacementRequest, poolId: UUID?, policy: SchedulingPolicy, engine: PlacementEngine, now: Date,
        imageHolders: Set<UUID>, limit: Int
    ) async throws -> (decision: PlacementDecision, assumption: Assumption?) {
        try await loadIfOld()
        return state.withLock { state in
            let decision = engine.place(request, in: state.index, policy: policy, now: now, imageHolders: imageHolders, limit: limit, pool: poolId)
            guard let first = decision.ranked.first else { return (decision, nil) }
            state.index.allocate(first.claim, on: first.machineId, sign: 1)
            state.nextAssumption += 1
            state.assumed[state.nextAssumption] = Assumed(machineId: first.machineId, amounts: first.claim)
            return (decision, Assumption(id: state.nextAssumption))
        }
    }

    /// The claim a placement took (nil: none, every choice was taken): its assumed room moves to the machine
    /// claimed. A claim without an assumption (a move's) is counted at once.
    public func claimed(_ claim: CapacityClaim?, for assumption: Assumption?) {
        state.withLock { state in
            if let id = assumption?.id, let held = state.assumed[id] {
                state.index.allocate(held.amounts, on: held.machineId, sign: -1)
                if let claim {
                    state.index.allocate(claim.amounts, on: claim.computeMachineId, sign: 1)
                    state.assumed[id] = Assumed(machineId: claim.computeMachineId, amounts: claim.amounts)
                } else {
                    state.assumed[id] = Assumed(machineId: held.machineId, amounts: .zero)
                }
            } else if let claim {
                state.index.allocate(claim.amounts, on: claim.computeMachineId, sign: 1)
            }
        }
    }

    /// The placement's transaction ended: committed, its room stays counted (it is the claim's now); rolled back,
    /// it is given back. Only the first call for an assumption counts.
    public func ended(_ assumption: Assumption?, committed: Bool) {
        guard let id = assumption?.id else { return }
        state.withLock { state in
            guard let held = state.assumed.removeValue(forKey: id), held.amounts != .zero else { return }
            if committed {
                state.commits += 1
                state.committed.append((state.commits, held))
            } else {
                state.index.allocate(held.amounts, on: held.machineId, sign: -1)
            }
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
        let commitsBefore = state.withLock { $0.commits }
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
            // What the read may not have seen: the placements in flight, and those that committed since it began.
            for held in state.assumed.values { index.allocate(held.amounts, on: held.machineId, sign: 1) }
            state.committed.removeAll { $0.commit <= commitsBefore }
            for (_, held) in state.committed { index.allocate(held.amounts, on: held.machineId, sign: 1) }
            state.index = index
            state.pools = byId
            state.loadedAt = started
        }
    }
}
