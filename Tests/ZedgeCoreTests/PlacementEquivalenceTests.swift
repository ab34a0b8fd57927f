import Foundation
import Testing
import ZedgeCore
import ZedgeTestSupport

/// The fast engine (a `PlacementIndex`, top-k) against the reference engine (every candidate filtered, every fit
/// sorted; issue #14): over thousands of random fleets and requests, its first k choices are the reference's
/// first k exactly (machine, pool, claim, score), and the fit count, rejection counts and `considered` agree, so
/// the 409 message is the same. Fleets are small and drawn from few values so that ties (broken by holding the
/// image, then machine id) are common.
@Suite("Placement engine equivalence")
struct PlacementEquivalenceTests {
    static let now = Date(timeIntervalSince1970: 1_760_000_000)
    static let freshness: TimeInterval = 60

    /// Seeded draws (`SplitMix64`); each case prints its seed on failure.
    struct Random {
        var generator: SplitMix64
        init(state: UInt64) { generator = SplitMix64(state: state) }
        mutating func next() -> UInt64 { generator.next() }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
        mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
    }

    struct World {
        var pools: [ResourcePool]
        var dataCenters: [UUID]
        var machines: [ComputeMachine]
        var holders: Set<UUID>

        func candidates() -> [PlacementCandidate] {
            let byId = Dictionary(uniqueKeysWithValues: pools.map { ($0.id, $0) })
            return machines.map { PlacementCandidate(machine: $0, pool: byId[$0.resourcePoolId]!, holdsImage: holders.contains($0.id)) }
        }
    }

    static let models = ["NVIDIA A100", " nvidia a100 ", "NVIDIA L4", "", "AMD MI300"]

    static func machine(_ r: inout Random, _ world: World, id: UUID = .v7()) -> ComputeMachine {
        let cpu = r.pick([8, 16, 32])
        let memory = r.pick([32, 64, 128])
        let gpus = r.pick([nil, 0, 0, 2, 4])
        let busy = r.chance(30)
        let pool = r.pick(world.pools)
        return ComputeMachine(
            id: id, hostname: "h", name: "h", edgeDataCenterId: r.pick(world.dataCenters), resourcePoolId: pool.id,
            machineType: .cpuServer, rentalMode: r.chance(25) ? .exclusive : .shared,
            hypervisorType: r.chance(85) ? .kvm : r.pick([.vmware, .hyperV]),
            cpuCores: cpu, memoryGb: memory, storageGb: r.pick([100, 500]), gpuCount: gpus,
            gpuModel: (gpus ?? 0) > 0 || r.chance(10) ? r.pick(models) : nil, managementIp: "10.0.0.1",
            allocatedCpuCores: busy ? r.pick([0, 4, 8, cpu]) : 0, allocatedMemoryGb: busy ? r.pick([0, 16, 32, memory]) : 0,
            allocatedStorageGb: busy ? r.pick([0, 50, 100]) : 0, allocatedGpuCount: busy ? min(gpus ?? 0, r.int(0...2)) : 0,
            status: r.chance(85) ? .active : r.pick([.maintenance, .offline, .decommissioning]),
            healthStatus: r.chance(90) ? .healthy : r.pick([.critical, .warning]),
            connectionConfig: r.chance(70) ? .object([ComputeMachine.integrationBridgeKey: .string("br-int")]) : nil,
            lastHeartbeat: r.chance(5) ? nil : now.addingTimeInterval(-Double(r.pick([0, 5, 59, 60, 61, 600]))))
    }

    static func world(_ r: inout Random) -> World {
        let dataCenters = [UUID.v7(), UUID.v7()]
        let pools = (0..<r.int(1...3)).map { i in
            ResourcePool(name: "p\(i)", edgeDataCenterId: dataCenters[0], status: r.chance(85) ? .active : .maintenance)
        }
        var world = World(pools: pools, dataCenters: dataCenters, machines: [], holders: [])
        for _ in 0..<r.int(0...40) { world.machines.append(machine(&r, world)) }
        world.holders = Set(world.machines.filter { _ in r.chance(30) }.map(\.id))
        return world
    }

    static func request(_ r: inout Random, _ world: World) -> PlacementRequest {
        PlacementRequest(
            resources: ClaimAmounts(cpuCores: r.pick([0, 1, 4, 8, 16]), memoryGb: r.pick([0, 8, 16, 64]),
                                    storageGb: r.pick([0, 40, 200]), gpuCount: r.chance(20) ? r.int(1...3) : 0),
            gpuModel: r.chance(50) ? r.pick(models + ["Unknown GPU"]) : nil,
            rentalMode: r.chance(25) ? .exclusive : .shared,
            hypervisorType: r.chance(20) ? r.pick(HypervisorType.allCases) : nil,
            edgeDataCenterId: r.chance(20) ? r.pick(world.dataCenters + [UUID.v7()]) : nil,
            needsIntegrationBridge: r.chance(30))
    }

    /// Every field that matters of the fast decision equals the reference's (the first k of its ranking).
    static func expectSame(_ fast: PlacementDecision, _ reference: PlacementDecision, k: Int, _ context: String,
                           sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let expected = Array(reference.ranked.prefix(k))
        let same = fast.ranked == expected && fast.fitted == reference.ranked.count && fast.rejections == reference.rejections
            && fast.considered == reference.considered
        #expect(same, "\(context): fast \(fast.ranked.map(\.machineId)) fitted \(fast.fitted) \(fast.rejections) considered \(fast.considered); reference \(expected.map(\.machineId)) fitted \(reference.ranked.count) \(reference.rejections) considered \(reference.considered)",
                sourceLocation: sourceLocation)
        return same
    }

    @Test func theFastEngineRanksItsFirstChoicesExactlyAsTheReference() {
        let fast = PlacementEngine(heartbeatFreshness: Self.freshness)
        let reference = ReferencePlacementEngine(heartbeatFreshness: Self.freshness)
        var compared = 0, fits = 0, refusals = 0, poolOnly = 0
        for seed in UInt64(1)...3_000 {
            var r = Random(state: seed)
            let world = Self.world(&r)
            let candidates = world.candidates()
            let index = PlacementIndex(candidates)
            for _ in 0..<4 {
                let request = Self.request(&r, world)
                let policy = r.pick(SchedulingPolicy.allCases)
                let k = r.pick([1, 2, 3, 8, 16, 1_000])
                let expected = reference.place(request, among: candidates, policy: policy, now: Self.now)
                let got = fast.place(request, in: index, policy: policy, now: Self.now, imageHolders: world.holders, limit: k)
                compared += 1
                if expected.ranked.isEmpty { refusals += 1 } else { fits += 1 }
                guard Self.expectSame(got, expected, k: k, "seed \(seed), k \(k), \(policy)") else { return }
                // The 409 text is the same.
                #expect(got.summary(for: request) == expected.summary(for: request), "seed \(seed)")
                // The candidate-list entry point ranks every fit as the reference does.
                let all = fast.place(request, among: candidates, policy: policy, now: Self.now)
                guard Self.expectSame(all, expected, k: .max, "seed \(seed), among candidates") else { return }
                // One pool of the whole index ranks as the reference over that pool's machines alone (a pool
                // unknown to the index, as over no machines).
                let pool = r.chance(10) ? UUID.v7() : r.pick(world.pools).id
                let inPool = reference.place(request, among: candidates.filter { $0.pool.id == pool }, policy: policy, now: Self.now)
                let restricted = fast.place(request, in: index, policy: policy, now: Self.now, imageHolders: world.holders, limit: k, pool: pool)
                guard Self.expectSame(restricted, inPool, k: k, "seed \(seed), k \(k), pool only") else { return }
                poolOnly += inPool.considered < candidates.count ? 1 : 0
            }
        }
        // Restricting to a pool leaves machines out in many cases.
        #expect(poolOnly > 3_000, "pool-restricted cases that left machines out: \(poolOnly)")
        // The random worlds exercise both outcomes, not only one.
        #expect(compared == 12_000 && fits > 2_000 && refusals > 2_000, "fits \(fits), refusals \(refusals)")
    }

    /// An index kept up to date by upserts, removals, heartbeats and claims ranks as the reference does over the
    /// same machines read afresh.
    @Test func anIndexKeptUpToDateRanksAsAFreshSnapshot() {
        let fast = PlacementEngine(heartbeatFreshness: Self.freshness)
        let reference = ReferencePlacementEngine(heartbeatFreshness: Self.freshness)
        for seed in UInt64(1)...500 {
            var r = Random(state: seed &* 7919)
            var world = Self.world(&r)
            var index = PlacementIndex(world.candidates())
            for step in 0..<30 {
                switch r.int(0...5) {
                case 0:  // a new machine
                    let machine = Self.machine(&r, world)
                    world.machines.append(machine)
                    index.upsert(machine, in: world.pools.first { $0.id == machine.resourcePoolId }!)
                case 1 where !world.machines.isEmpty:  // a machine changed (status, sizes, pool…)
                    let slot = r.int(0...(world.machines.count - 1))
                    let machine = Self.machine(&r, world, id: world.machines[slot].id)
                    world.machines[slot] = machine
                    index.upsert(machine, in: world.pools.first { $0.id == machine.resourcePoolId }!)
                case 2 where !world.machines.isEmpty:  // a machine removed
                    let removed = world.machines.remove(at: r.int(0...(world.machines.count - 1)))
                    index.remove(removed.id)
                case 3 where !world.machines.isEmpty:  // a heartbeat (an older one changes nothing)
                    let slot = r.int(0...(world.machines.count - 1))
                    let at = Self.now.addingTimeInterval(-Double(r.pick([0, 30, 120])))
                    if at > world.machines[slot].lastHeartbeat ?? .distantPast { world.machines[slot].lastHeartbeat = at }
                    index.heartbeat(world.machines[slot].id, at: at)
                case 4 where !world.machines.isEmpty:  // a claim taken or given back
                    let slot = r.int(0...(world.machines.count - 1))
                    let amounts = ClaimAmounts(cpuCores: r.int(0...4), memoryGb: r.int(0...8), storageGb: r.int(0...20), gpuCount: r.int(0...1))
                    let sign = r.chance(50) ? 1 : -1
                    world.machines[slot].allocatedCpuCores += sign * amounts.cpuCores
                    world.machines[slot].allocatedMemoryGb += sign * amounts.memoryGb
                    world.machines[slot].allocatedStorageGb += sign * amounts.storageGb
                    world.machines[slot].allocatedGpuCount += sign * amounts.gpuCount
                    index.allocate(amounts, on: world.machines[slot].id, sign: sign)
                default:  // a pool's status changed
                    let slot = r.int(0...(world.pools.count - 1))
                    world.pools[slot].status = world.pools[slot].status == .active ? .maintenance : .active
                    index.upsert(world.pools[slot])
                }
                #expect(index.count == world.machines.count)
                let request = Self.request(&r, world)
                let policy = r.pick(SchedulingPolicy.allCases)
                let expected = reference.place(request, among: world.candidates(), policy: policy, now: Self.now)
                let got = fast.place(request, in: index, policy: policy, now: Self.now, imageHolders: world.holders, limit: 5)
                guard Self.expectSame(got, expected, k: 5, "seed \(seed), step \(step)") else { return }
            }
        }
    }
}
