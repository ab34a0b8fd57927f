import Foundation
import Testing
import ZedgeCore
import ZedgeTestSupport

/// Builders for placement tests: a fixed clock, deterministic ids, and machines that pass every filter
/// unless a test says otherwise.
private enum Fixture {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)
    static let freshness: TimeInterval = 90
    static let engine = PlacementEngine(heartbeatFreshness: freshness)
    static let dataCenter = id(0xDC)

    static func id(_ n: Int) -> UUID { UUID(uuidString: String(format: "00000000-0000-7000-8000-%012X", n))! }

    static func pool(
        _ n: Int = 0xF00, status: ResourcePoolStatus = .active, policy: String = SchedulingPolicyName.loadBalance
    ) -> ResourcePool {
        ResourcePool(id: id(n), name: "pool-\(n)", edgeDataCenterId: dataCenter, schedulingPolicy: policy,
                     status: status, createdAt: now, updatedAt: now)
    }

    static func machine(
        _ n: Int,
        rentalMode: RentalMode = .shared,
        hypervisor: HypervisorType = .kvm,
        cpu: Int = 32, memory: Int = 128, storage: Int = 1000, gpus: Int? = 0, gpuModel: String? = nil,
        usedCpu: Int = 0, usedMemory: Int = 0, usedStorage: Int = 0, usedGpus: Int = 0,
        status: ComputeMachineStatus = .active,
        health: HealthStatus = .healthy,
        heartbeatAge: TimeInterval? = 10
    ) -> ComputeMachine {
        machine(id: id(n), rentalMode: rentalMode, hypervisor: hypervisor, cpu: cpu, memory: memory,
                storage: storage, gpus: gpus, gpuModel: gpuModel, usedCpu: usedCpu, usedMemory: usedMemory,
                usedStorage: usedStorage, usedGpus: usedGpus, status: status, health: health,
                heartbeatAge: heartbeatAge)
    }

    static func machine(
        id: UUID,
        rentalMode: RentalMode = .shared,
        hypervisor: HypervisorType = .kvm,
        cpu: Int = 32, memory: Int = 128, storage: Int = 1000, gpus: Int? = 0, gpuModel: String? = nil,
        usedCpu: Int = 0, usedMemory: Int = 0, usedStorage: Int = 0, usedGpus: Int = 0,
        status: ComputeMachineStatus = .active,
        health: HealthStatus = .healthy,
        heartbeatAge: TimeInterval? = 10
    ) -> ComputeMachine {
        ComputeMachine(
            id: id, hostname: "host-\(id.uuidString.suffix(4))", name: "m-\(id.uuidString.suffix(4))",
            edgeDataCenterId: dataCenter, resourcePoolId: pool().id, machineType: .cpuServer,
            rentalMode: rentalMode, hypervisorType: hypervisor,
            cpuCores: cpu, memoryGb: memory, storageGb: storage, gpuCount: gpus, gpuModel: gpuModel,
            managementIp: "10.0.0.1",
            allocatedCpuCores: usedCpu, allocatedMemoryGb: usedMemory, allocatedStorageGb: usedStorage,
            allocatedGpuCount: usedGpus, status: status, healthStatus: health,
            createdAt: now, updatedAt: now,
            lastHeartbeat: heartbeatAge.map { now.addingTimeInterval(-$0) }
        )
    }

    static func candidates(_ machines: [ComputeMachine], pool: ResourcePool = pool()) -> [PlacementCandidate] {
        machines.map { PlacementCandidate(machine: $0, pool: pool) }
    }

    static func request(
        cpu: Int = 4, memory: Int = 8, storage: Int = 40, gpus: Int = 0, gpuModel: String? = nil,
        rentalMode: RentalMode = .shared, hypervisor: HypervisorType? = nil
    ) -> PlacementRequest {
        PlacementRequest(resources: ClaimAmounts(cpuCores: cpu, memoryGb: memory, storageGb: storage, gpuCount: gpus),
                         gpuModel: gpuModel, rentalMode: rentalMode, hypervisorType: hypervisor)
    }

    static func place(
        _ request: PlacementRequest, _ candidates: [PlacementCandidate], policy: SchedulingPolicy = .loadBalance,
        engine: PlacementEngine = engine
    ) -> PlacementDecision {
        engine.place(request, among: candidates, policy: policy, now: now)
    }
}


@Suite("Placement engine")
struct PlacementEngineTests {
    private typealias F = Fixture

    // MARK: Filters

    @Test(arguments: [SchedulingPolicy.loadBalance, .binPack])
    func amongEqualMachinesTheOneHoldingTheImageRanksFirst(policy: SchedulingPolicy) {
        // Equal machines: without the image the lower id wins; the cached image decides before the id does.
        let (a, b) = (F.machine(1), F.machine(2))
        var candidates = F.candidates([a, b])
        #expect(F.place(F.request(), candidates, policy: policy).ranked.map(\.machineId) == [a.id, b.id])
        candidates[1].holdsImage = true
        #expect(F.place(F.request(), candidates, policy: policy).ranked.map(\.machineId) == [b.id, a.id])
        // It never outranks a better score: a busier machine holding the image comes after an idle one (spread).
        var busy = F.candidates([F.machine(3, usedCpu: 16), F.machine(4)])
        busy[0].holdsImage = true
        #expect(F.place(F.request(), busy, policy: .loadBalance).ranked.first?.machineId == busy[1].machine.id)
    }

    @Test func emptyCandidateList() {
        let decision = F.place(F.request(), [])
        #expect(decision.ranked.isEmpty)
        #expect(decision.rejections.isEmpty)
        #expect(decision.considered == 0)
        #expect(decision.summary(for: F.request())
            == "no machine can take 4 CPU cores, 8 GB memory, 40 GB storage, 0 GPUs (SHARED): there are no candidate machines")
    }

    @Test func everyFilterCountsItsOwnRejection() {
        let inactivePool = F.pool(0xF01, status: .maintenance)
        let request = F.request(cpu: 8, memory: 16, storage: 100, gpus: 1, gpuModel: "A100")
        let gpu: Int? = 2
        var candidates = F.candidates([F.machine(1, gpus: gpu, gpuModel: "A100")], pool: inactivePool)
        candidates += F.candidates([
            F.machine(2, gpus: gpu, gpuModel: "A100", status: .maintenance),
            F.machine(3, gpus: gpu, gpuModel: "A100", status: .offline),
            F.machine(4, gpus: gpu, gpuModel: "A100", status: .decommissioning),
            F.machine(5, gpus: gpu, gpuModel: "A100", health: .critical),
            F.machine(6, gpus: gpu, gpuModel: "A100", heartbeatAge: nil),
            F.machine(7, rentalMode: .exclusive, gpus: gpu, gpuModel: "A100"),
            F.machine(8, gpus: gpu, gpuModel: "H100"),
            F.machine(9, gpus: gpu, gpuModel: "A100", usedCpu: 25),
            F.machine(10, gpus: gpu, gpuModel: "A100", usedMemory: 113),
            F.machine(11, gpus: gpu, gpuModel: "A100", usedStorage: 901),
            F.machine(12, gpus: gpu, gpuModel: "A100", usedGpus: 2),
            F.machine(13, gpus: gpu, gpuModel: "A100"),
            F.machine(14, gpus: gpu, gpuModel: "A100", usedCpu: 24, usedMemory: 112, usedStorage: 900, usedGpus: 1),
        ])
        let decision = F.place(request, candidates)
        #expect(decision.considered == 14)
        #expect(decision.rejections == [
            .poolNotActive: 1, .machineMaintenance: 1, .machineOffline: 1, .machineDecommissioning: 1,
            .machineCritical: 1, .heartbeatStale: 1, .rentalModeMismatch: 1, .gpuModelMismatch: 1,
            .insufficientCpu: 1, .insufficientMemory: 1, .insufficientStorage: 1, .insufficientGpu: 1,
        ])
        // Machine 14 fits exactly (free == request) and is fuller after placement, so spreading puts 13 first.
        #expect(decision.ranked.map(\.machineId) == [F.id(13), F.id(14)])

        // The two remaining reasons need their own request shapes.
        let exclusive = F.place(F.request(rentalMode: .exclusive), F.candidates([
            F.machine(20, rentalMode: .exclusive, usedCpu: 1),
            F.machine(21, hypervisor: .vmware),
        ]))
        #expect(exclusive.rejections == [.exclusiveMachineInUse: 1, .rentalModeMismatch: 1])
        let hyper = F.place(F.request(hypervisor: .vmware), F.candidates([F.machine(22), F.machine(23, hypervisor: .vmware)]))
        #expect(hyper.rejections == [.hypervisorMismatch: 1])
        #expect(hyper.ranked.map(\.machineId) == [F.id(23)])
    }

    @Test func onlyTheFirstFailingFilterIsCounted() {
        let broken = F.machine(1, rentalMode: .exclusive, cpu: 2, status: .offline, health: .critical, heartbeatAge: nil)
        #expect(F.place(F.request(), F.candidates([broken], pool: F.pool(status: .disabled))).rejections
            == [.poolNotActive: 1])
        #expect(F.place(F.request(), F.candidates([broken])).rejections == [.machineOffline: 1])

        var critical = broken
        critical.status = .active
        #expect(F.place(F.request(), F.candidates([critical])).rejections == [.machineCritical: 1])
        critical.healthStatus = .warning
        #expect(F.place(F.request(), F.candidates([critical])).rejections == [.heartbeatStale: 1])
        critical.lastHeartbeat = F.now
        #expect(F.place(F.request(), F.candidates([critical])).rejections == [.rentalModeMismatch: 1])
        critical.rentalMode = .shared
        #expect(F.place(F.request(), F.candidates([critical])).rejections == [.insufficientCpu: 1])
        // Hypervisor is checked before rental mode.
        critical.rentalMode = .exclusive
        #expect(F.place(F.request(hypervisor: .hyperV), F.candidates([critical])).rejections == [.hypervisorMismatch: 1])
        // CPU is checked before memory, storage and GPUs.
        let short = F.machine(2, cpu: 1, memory: 1, storage: 1, gpus: nil)
        #expect(F.place(F.request(gpus: 1), F.candidates([short])).rejections == [.insufficientCpu: 1])
    }

    @Test(arguments: [
        (ComputeMachineStatus.maintenance, PlacementRejection.machineMaintenance),
        (.offline, .machineOffline),
        (.decommissioning, .machineDecommissioning),
    ])
    func nonActiveMachinesAreSkipped(status: ComputeMachineStatus, reason: PlacementRejection) {
        let decision = F.place(F.request(), F.candidates([F.machine(1, status: status), F.machine(2)]))
        #expect(decision.ranked.map(\.machineId) == [F.id(2)])
        #expect(decision.rejections == [reason: 1])
    }

    @Test(arguments: [ResourcePoolStatus.maintenance, .disabled])
    func nonActivePoolsAreSkipped(status: ResourcePoolStatus) {
        let decision = F.place(F.request(), F.candidates([F.machine(1), F.machine(2)], pool: F.pool(status: status)))
        #expect(decision.ranked.isEmpty)
        #expect(decision.rejections == [.poolNotActive: 2])
    }

    @Test func criticalSkippedButWarningAllowed() {
        let decision = F.place(F.request(), F.candidates([
            F.machine(1, health: .critical), F.machine(2, health: .warning), F.machine(3, health: .healthy),
        ]))
        #expect(Set(decision.ranked.map(\.machineId)) == [F.id(2), F.id(3)])
        #expect(decision.rejections == [.machineCritical: 1])
    }

    @Test func heartbeatFreshnessBoundary() {
        let decision = F.place(F.request(), F.candidates([
            F.machine(1, heartbeatAge: F.freshness),      // exactly at the limit: fresh
            F.machine(2, heartbeatAge: F.freshness + 1),  // one second over: stale
            F.machine(3, heartbeatAge: nil),              // never heard from: stale
            F.machine(4, heartbeatAge: 0),
        ]))
        #expect(decision.ranked.map(\.machineId).sorted { $0.uuidString < $1.uuidString } == [F.id(1), F.id(4)])
        #expect(decision.rejections == [.heartbeatStale: 2])

        // The freshness window is the engine's setting, not a constant.
        let strict = PlacementEngine(heartbeatFreshness: 5)
        let tight = F.place(F.request(), F.candidates([F.machine(1, heartbeatAge: 5), F.machine(4, heartbeatAge: 6)]),
                            engine: strict)
        #expect(tight.ranked.map(\.machineId) == [F.id(1)])
    }

    @Test func hypervisorOnlyFiltersWhenRequested() {
        let fleet = F.candidates([F.machine(1, hypervisor: .kvm), F.machine(2, hypervisor: .vmware)])
        #expect(F.place(F.request(), fleet).ranked.count == 2)
        let vmware = F.place(F.request(hypervisor: .vmware), fleet)
        #expect(vmware.ranked.map(\.machineId) == [F.id(2)])
        #expect(vmware.rejections == [.hypervisorMismatch: 1])
    }

    @Test func exactFitPassesAndOneOverFails() {
        let m = F.machine(1, cpu: 8, memory: 16, storage: 100, gpus: 1, usedCpu: 4, usedMemory: 8, usedStorage: 60)
        let fits = F.place(F.request(cpu: 4, memory: 8, storage: 40, gpus: 1), F.candidates([m]))
        #expect(fits.ranked.map(\.machineId) == [F.id(1)])
        #expect(fits.ranked.first?.score == 1.0)
        #expect(F.place(F.request(cpu: 5, memory: 8, storage: 40), F.candidates([m])).rejections == [.insufficientCpu: 1])
        #expect(F.place(F.request(cpu: 4, memory: 9, storage: 40), F.candidates([m])).rejections
            == [.insufficientMemory: 1])
        #expect(F.place(F.request(cpu: 4, memory: 8, storage: 41), F.candidates([m])).rejections
            == [.insufficientStorage: 1])
        #expect(F.place(F.request(cpu: 4, memory: 8, storage: 40, gpus: 2), F.candidates([m])).rejections
            == [.insufficientGpu: 1])
    }

    // MARK: GPUs

    @Test func gpuCountUsesFreeGpusAndNilMeansNone() {
        let decision = F.place(F.request(gpus: 2), F.candidates([
            F.machine(1, gpus: nil),
            F.machine(2, gpus: 4, usedGpus: 3),
            F.machine(3, gpus: 4, usedGpus: 2),
        ]))
        #expect(decision.ranked.map(\.machineId) == [F.id(3)])
        #expect(decision.ranked.first?.claim.gpuCount == 2)
        #expect(decision.rejections == [.insufficientGpu: 2])
    }

    @Test func gpuModelMatchesTrimmedAndCaseInsensitively() {
        let fleet = F.candidates([
            F.machine(1, gpus: 2, gpuModel: "NVIDIA A100"),
            F.machine(2, gpus: 2, gpuModel: "  nvidia a100\n"),
            F.machine(3, gpus: 2, gpuModel: "NVIDIA H100"),
            F.machine(4, gpus: 2, gpuModel: nil),
        ])
        let decision = F.place(F.request(gpus: 1, gpuModel: " Nvidia A100 "), fleet)
        #expect(Set(decision.ranked.map(\.machineId)) == [F.id(1), F.id(2)])
        #expect(decision.rejections == [.gpuModelMismatch: 2])

        // A model without GPUs asked for is no requirement (and no GPU is claimed).
        let noGpus = F.place(F.request(gpus: 0, gpuModel: "NVIDIA A100"), fleet)
        #expect(noGpus.ranked.count == 4)
        #expect(noGpus.ranked.allSatisfy { $0.claim.gpuCount == 0 })
        // Nor is a blank model name.
        #expect(F.place(F.request(gpus: 1, gpuModel: "  "), fleet).ranked.count == 4)
    }

    // MARK: Rental mode

    @Test func exclusiveTakesTheWholeIdleExclusiveMachine() {
        let decision = F.place(F.request(cpu: 4, memory: 8, storage: 40, rentalMode: .exclusive), F.candidates([
            F.machine(1, rentalMode: .exclusive, cpu: 16, memory: 64, storage: 500, gpus: nil),
            F.machine(2, rentalMode: .exclusive, usedCpu: 1),
            F.machine(3, rentalMode: .exclusive, usedMemory: 1),
            F.machine(4, rentalMode: .exclusive, usedStorage: 1),
            F.machine(5, rentalMode: .exclusive, gpus: 2, usedGpus: 1),
            F.machine(6, rentalMode: .shared),
        ]))
        #expect(decision.ranked.map(\.machineId) == [F.id(1)])
        #expect(decision.ranked.first?.claim == ClaimAmounts(cpuCores: 16, memoryGb: 64, storageGb: 500, gpuCount: 0))
        #expect(decision.ranked.first?.score == 0.25)  // 4 of 16 cores, 8 of 64 GB: the request uses a quarter
        #expect(decision.rejections == [.exclusiveMachineInUse: 4, .rentalModeMismatch: 1])

        let withGpus = F.place(F.request(gpus: 1, rentalMode: .exclusive),
                               F.candidates([F.machine(7, rentalMode: .exclusive, gpus: 8, gpuModel: "L4")]))
        #expect(withGpus.ranked.first?.claim == ClaimAmounts(cpuCores: 32, memoryGb: 128, storageGb: 1000, gpuCount: 8))
    }

    @Test func exclusiveRequestMustStillFitTheMachine() {
        let decision = F.place(F.request(cpu: 64, rentalMode: .exclusive),
                               F.candidates([F.machine(1, rentalMode: .exclusive, cpu: 32)]))
        #expect(decision.ranked.isEmpty)
        #expect(decision.rejections == [.insufficientCpu: 1])
    }

    @Test(arguments: SchedulingPolicy.allCases)
    func exclusiveRanksTightestFitFirstUnderEveryPolicy(policy: SchedulingPolicy) {
        let fleet = F.candidates([
            F.machine(1, rentalMode: .exclusive, cpu: 64, memory: 256),
            F.machine(2, rentalMode: .exclusive, cpu: 8, memory: 64),
            F.machine(3, rentalMode: .exclusive, cpu: 8, memory: 32),
            F.machine(4, rentalMode: .exclusive, cpu: 16, memory: 16),
        ])
        let decision = F.place(F.request(cpu: 8, memory: 16, rentalMode: .exclusive), fleet, policy: policy)
        // Waste (cpu, memory): 1 → (56, 240), 2 → (0, 48), 3 → (0, 16), 4 → (8, 0).
        #expect(decision.ranked.map(\.machineId) == [F.id(3), F.id(2), F.id(4), F.id(1)])
    }

    @Test func sharedNeverLandsOnExclusiveMachines() {
        let decision = F.place(F.request(cpu: 2, memory: 4, storage: 10), F.candidates([
            F.machine(1, rentalMode: .exclusive),  // idle, would fit
            F.machine(2, rentalMode: .shared, usedCpu: 30),
        ]))
        #expect(decision.ranked.map(\.machineId) == [F.id(2)])
        #expect(decision.ranked.first?.claim == ClaimAmounts(cpuCores: 2, memoryGb: 4, storageGb: 10, gpuCount: 0))
        #expect(decision.rejections == [.rentalModeMismatch: 1])
        #expect(F.place(F.request(), F.candidates([F.machine(3, rentalMode: .exclusive)])).ranked.isEmpty)
    }

    // MARK: Policies

    /// After a 4-core / 8 GB claim: 1 → max(8/32, 16/128) = 0.25; 2 → max(20/32, 24/128) = 0.625;
    /// 3 → max(8/32, 104/128) = 0.8125 (memory dominates); 4 → max(4/32, 8/128) = 0.125.
    private var mixedFleet: [PlacementCandidate] {
        F.candidates([
            F.machine(1, usedCpu: 4, usedMemory: 8),
            F.machine(2, usedCpu: 16, usedMemory: 16),
            F.machine(3, usedCpu: 4, usedMemory: 96),
            F.machine(4),
            F.machine(5, usedCpu: 30),  // does not fit
        ])
    }

    @Test func loadBalanceSpreadsToLeastUtilised() {
        let decision = F.place(F.request(), mixedFleet, policy: .loadBalance)
        #expect(decision.ranked.map(\.machineId) == [F.id(4), F.id(1), F.id(2), F.id(3)])
        #expect(decision.ranked.map(\.score) == [0.125, 0.25, 0.625, 0.8125])
        #expect(decision.ranked.allSatisfy { $0.resourcePoolId == F.pool().id && $0.claim == F.request().resources })
    }

    @Test func binPackPacksMostUtilisedThatFits() {
        let decision = F.place(F.request(), mixedFleet, policy: .binPack)
        #expect(decision.ranked.map(\.machineId) == [F.id(3), F.id(2), F.id(1), F.id(4)])
        #expect(decision.rejections == [.insufficientCpu: 1])
    }

    @Test func zeroTotalsDoNotDivideByZero() {
        let decision = F.place(F.request(cpu: 0, memory: 0, storage: 0),
                               F.candidates([F.machine(1, cpu: 0, memory: 0, storage: 0)]))
        #expect(decision.ranked.first?.score == 0)
    }

    @Test func policyFromPoolString() {
        #expect(SchedulingPolicy(poolPolicy: "bin_pack") == .binPack)
        #expect(SchedulingPolicy(poolPolicy: "load_balance") == .loadBalance)
        #expect(SchedulingPolicy(poolPolicy: " BIN_PACK ") == .binPack)
        #expect(SchedulingPolicy(poolPolicy: "random") == .loadBalance)
        #expect(SchedulingPolicy(poolPolicy: "") == .loadBalance)
        #expect(SchedulingPolicy.allCases.map(\.rawValue) == SchedulingPolicyName.all)
    }

    // MARK: Determinism

    @Test(arguments: SchedulingPolicy.allCases)
    func tiesBrokenByIdWhateverTheInputOrder(policy: SchedulingPolicy) {
        var rng = SplitMix64(state: 42)
        // Random-tailed ids, reversed, so that uuidString order is not the construction order; equal shapes tie.
        // Plus ids that share their first 8 bytes, so the order of the last 8 decides ("…000A" < "…0010").
        let ids = (0..<12).map { _ in UUID.v7(now: F.now, using: &rng) }.reversed()
            + [0x10, 0xA, 0xFF, 0x9, 0x100, 0x1].map(F.id)
        let fleet = F.candidates(ids.map { F.machine(id: $0, usedCpu: 8) })
        let expected = ids.sorted { $0.uuidString < $1.uuidString }

        for _ in 0..<20 {
            let decision = F.place(F.request(), fleet.shuffled(using: &rng), policy: policy)
            #expect(decision.ranked.map(\.machineId) == expected)
        }
        // Ties under exclusive ranking too.
        let exclusive = F.candidates(ids.map { F.machine(id: $0, rentalMode: .exclusive) })
        let decision = F.place(F.request(rentalMode: .exclusive), exclusive.shuffled(using: &rng), policy: policy)
        #expect(decision.ranked.map(\.machineId) == expected)
    }

    @Test func largeFleetMatchesBruteForce() {
        var rng = SplitMix64(state: 7)
        let machines = (0..<2_000).map { n -> ComputeMachine in
            let cpu = [8, 16, 32, 64].randomElement(using: &rng)!
            return F.machine(
                n + 1, cpu: cpu, memory: cpu * 4, storage: 500,
                usedCpu: Int.random(in: 0...cpu, using: &rng), usedMemory: Int.random(in: 0...(cpu * 4), using: &rng),
                status: Int.random(in: 0..<10, using: &rng) == 0 ? .maintenance : .active,
                heartbeatAge: Double(Int.random(in: 0...120, using: &rng)))
        }
        let request = F.request(cpu: 6, memory: 20, storage: 100)
        let decision = F.place(request, F.candidates(machines), policy: .binPack)

        let fitting = machines.filter {
            $0.status == .active && F.now.timeIntervalSince($0.lastHeartbeat!) <= F.freshness
                && $0.cpuCores - $0.allocatedCpuCores >= 6 && $0.memoryGb - $0.allocatedMemoryGb >= 20
        }
        #expect(decision.ranked.count == fitting.count)
        #expect(decision.ranked.count + decision.rejections.values.reduce(0, +) == machines.count)
        let scores = decision.ranked.map(\.score)
        #expect(zip(scores, scores.dropFirst()).allSatisfy { $0 >= $1 })
        let best = fitting.map {
            max(Double($0.allocatedCpuCores + 6) / Double($0.cpuCores), Double($0.allocatedMemoryGb + 20) / Double($0.memoryGb))
        }.max()
        #expect(scores.first == best)
    }

    // MARK: Summary

    @Test func summaryNamesCountsInFixedOrder() {
        let fleet = F.candidates([
            F.machine(1, usedCpu: 30), F.machine(2, usedCpu: 29), F.machine(3, usedCpu: 31),
            F.machine(4, status: .maintenance), F.machine(5, status: .maintenance),
            F.machine(6, usedMemory: 125),
            F.machine(7, heartbeatAge: 3600),
        ])
        let request = F.request()
        let decision = F.place(request, fleet)
        #expect(decision.ranked.isEmpty)
        #expect(decision.summary(for: request) == "no machine can take 4 CPU cores, 8 GB memory, 40 GB storage, "
            + "0 GPUs (SHARED): of 7 machines, 2 in MAINTENANCE, 1 without a recent heartbeat, 3 lack free CPU, "
            + "1 lack free memory")

        let gpuRequest = F.request(cpu: 1, memory: 2, storage: 3, gpus: 1, gpuModel: "A100", rentalMode: .exclusive,
                                   hypervisor: .kvm)
        let gpuDecision = F.place(gpuRequest, F.candidates([F.machine(8)]))
        #expect(gpuDecision.summary(for: gpuRequest) == "no machine can take 1 CPU core, 2 GB memory, 3 GB storage, "
            + "1 GPU A100 (EXCLUSIVE, KVM): of 1 machine, 1 of the other rental mode")
    }

    @Test func explanationsAreDistinct() {
        let phrases = PlacementRejection.allCases.map(\.explanation)
        #expect(Set(phrases).count == PlacementRejection.allCases.count)
        #expect(PlacementRejection.insufficientCpu.explanation == "lack free CPU")
        #expect(PlacementRejection.machineMaintenance.explanation == "in MAINTENANCE")
    }
}
