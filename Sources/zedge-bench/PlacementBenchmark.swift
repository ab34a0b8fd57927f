import ArgumentParser
import Foundation
import ZedgeCore

/// `zedge-bench placement`: the pure placement engine over a synthetic fleet (default 10,000 machines):
/// placements per second for each policy and request shape, one `place` call per placement.
struct PlacementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement", abstract: "Placements per second of the pure placement engine over a synthetic fleet.")

    @Option(help: "Machines in the fleet.") var machines = 10_000
    @Option(help: "Placements timed per case.") var placements = 2_000
    @Option(help: "Seed of the synthetic fleet (the same seed makes the same fleet).") var seed: UInt64 = 42

    struct Case {
        var name: String
        var request: PlacementRequest
        var policy: SchedulingPolicy
    }

    func run() throws {
        let now = Date()
        let fleet = Self.fleet(machines, seed: seed, now: now)
        let engine = PlacementEngine(heartbeatFreshness: 30)
        let shared = ClaimAmounts(cpuCores: 4, memoryGb: 8, storageGb: 40, gpuCount: 0)
        let cases = [
            Case(name: "SHARED 4c/8G, load_balance", request: .init(resources: shared, rentalMode: .shared), policy: .loadBalance),
            Case(name: "SHARED 4c/8G, bin_pack", request: .init(resources: shared, rentalMode: .shared), policy: .binPack),
            Case(name: "SHARED 1 GPU of a model", request: .init(
                resources: ClaimAmounts(cpuCores: 8, memoryGb: 32, storageGb: 100, gpuCount: 1), gpuModel: "NVIDIA A100",
                rentalMode: .shared), policy: .loadBalance),
            Case(name: "EXCLUSIVE whole machine", request: .init(
                resources: ClaimAmounts(cpuCores: 16, memoryGb: 64, storageGb: 200, gpuCount: 0), rentalMode: .exclusive), policy: .binPack),
            Case(name: "nothing fits (filters only)", request: .init(
                resources: ClaimAmounts(cpuCores: 4096, memoryGb: 8, storageGb: 40, gpuCount: 0), rentalMode: .shared), policy: .loadBalance),
        ]
        print("Placement engine: \(machines) machines, \(placements) placements per case (release build recommended)")
        print("case".padding(toLength: 32, withPad: " ", startingAt: 0) + "  fit     placements/s   µs/placement")
        for item in cases {
            var fitted = 0
            // One untimed pass warms caches and gives the number of machines that fit.
            fitted = engine.place(item.request, among: fleet, policy: item.policy, now: now).ranked.count
            let clock = ContinuousClock()
            var checksum = 0
            let elapsed = clock.measure {
                for _ in 0..<placements {
                    checksum &+= engine.place(item.request, among: fleet, policy: item.policy, now: now).ranked.count
                }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let perSecond = Double(placements) / seconds
            precondition(checksum == fitted * placements, "the engine is deterministic over one snapshot")
            print(item.name.padding(toLength: 32, withPad: " ", startingAt: 0)
                  + "  " + String(fitted).padding(toLength: 6, withPad: " ", startingAt: 0)
                  + "  " + String(format: "%12.0f", perSecond) + "   " + String(format: "%12.1f", 1e6 / perSecond))
        }
    }

    /// A mixed fleet: 20 pools; CPU servers and GPU servers; SHARED and EXCLUSIVE; some busy, some in
    /// MAINTENANCE, OFFLINE, CRITICAL or with stale heartbeats, as a real fleet has.
    static func fleet(_ count: Int, seed: UInt64, now: Date) -> [PlacementCandidate] {
        var random = SplitMix64(seed: seed)
        let center = UUID()
        let pools = (0..<20).map { i in
            ResourcePool(name: "pool-\(i)", edgeDataCenterId: center, status: i == 19 ? .maintenance : .active)
        }
        return (0..<count).map { i in
            let gpus = i % 10 == 0 ? 4 : 0
            let cpu = [16, 32, 64, 128][Int(random.next() % 4)]
            let memory = cpu * 4
            let allocated = Int(random.next() % UInt64(cpu))
            let roll = random.next() % 100
            let machine = ComputeMachine(
                hostname: "host-\(i)", name: "host-\(i)", edgeDataCenterId: center, resourcePoolId: pools[i % pools.count].id,
                machineType: gpus > 0 ? .gpuServer : .cpuServer, rentalMode: i % 7 == 0 ? .exclusive : .shared,
                cpuCores: cpu, memoryGb: memory, storageGb: 2_000, gpuCount: gpus, gpuModel: gpus > 0 ? "NVIDIA A100" : nil,
                managementIp: "10.\(i / 65_536 % 256).\(i / 256 % 256).\(i % 256)",
                allocatedCpuCores: i % 7 == 0 && roll < 50 ? 0 : allocated, allocatedMemoryGb: allocated * 4,
                allocatedStorageGb: allocated * 10, allocatedGpuCount: gpus > 0 ? Int(random.next() % 3) : 0,
                status: roll < 3 ? .maintenance : roll < 5 ? .offline : .active,
                healthStatus: roll >= 5 && roll < 7 ? .critical : .healthy,
                lastHeartbeat: now.addingTimeInterval(roll >= 7 && roll < 9 ? -300 : -2))
            return PlacementCandidate(machine: machine, pool: pools[i % pools.count])
        }
    }
}

/// A small seeded generator, so a fleet is the same from run to run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
