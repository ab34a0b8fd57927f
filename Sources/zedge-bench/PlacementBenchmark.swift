import ArgumentParser
import Foundation
import ZedgeCore

/// `zedge-bench placement`: the pure placement engine over a synthetic fleet (default 10,000 machines): decisions
/// per second for each policy and request shape, timed `--runs` times (min, median, max). Three ways per case:
/// - **index**: over a `PlacementIndex` kept up to date (what the coordinator does), the best `--limit` kept;
/// - **snapshot**: an index built from the candidate list for each decision (the cost of re-reading the fleet
///   as a list, without the database);
/// - **scan ceiling**: one pass that only sums the free CPU of every record: the least any decision over every
///   machine can cost. `index / ceiling` is the engine's cost over a bare pass in the same run.
struct PlacementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement", abstract: "Placements per second of the pure placement engine over a synthetic fleet.")

    @Option(help: "Machines in the fleet.") var machines = 10_000
    @Option(help: "Placements timed per case and run.") var placements = 2_000
    @Option(help: "Timed runs per case (min, median and max are reported).") var runs = 5
    @Option(help: "Choices kept per decision (the claim tries them in order).") var limit = 16
    @Option(help: "Seed of the synthetic fleet (the same seed makes the same fleet).") var seed: UInt64 = 42

    struct Case {
        var name: String
        var request: PlacementRequest
        var policy: SchedulingPolicy
    }

    func run() throws {
        let now = Date()
        let fleet = Self.fleet(machines, seed: seed, now: now)
        let index = PlacementIndex(fleet)
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
        print("Placement engine: \(machines) machines, \(placements) decisions per case and run, \(runs) runs, best \(limit) kept "
              + "(release build recommended)")
        let ceiling = measure { Self.scanCeiling(index) }
        print("scan ceiling (sum free CPU of every record): " + ceiling.text + " passes/s")
        print("")
        print("case".padding(toLength: 30, withPad: " ", startingAt: 0) + " | fit   | index, decisions/s (min / median / max) | µs (median) "
              + "| ceiling/index | snapshot, decisions/s (median)")
        for item in cases {
            // One untimed pass warms caches and gives the number of machines that fit.
            let fitted = engine.place(item.request, in: index, policy: item.policy, now: now, limit: limit).fitted
            let fast = measure {
                engine.place(item.request, in: index, policy: item.policy, now: now, limit: limit).fitted
            }
            precondition(fast.checksum == fitted * placements * runs, "the engine is deterministic over one snapshot")
            let snapshot = measure(placements: max(1, placements / 20)) {
                engine.place(item.request, among: fleet, policy: item.policy, now: now, limit: limit).fitted
            }
            print(item.name.padding(toLength: 30, withPad: " ", startingAt: 0)
                  + " | " + String(fitted).padding(toLength: 5, withPad: " ", startingAt: 0)
                  + " | " + fast.text.padding(toLength: 39, withPad: " ", startingAt: 0)
                  + " | " + String(format: "%11.1f", 1e6 / fast.median)
                  + " | " + String(format: "%13.1f", ceiling.median / fast.median)
                  + " | " + String(format: "%.0f", snapshot.median))
        }
    }

    /// Rates of `runs` timed runs of `placements` calls each.
    struct Rates {
        var perSecond: [Double]
        var checksum: Int
        var median: Double { perSecond.sorted()[perSecond.count / 2] }
        var text: String {
            let sorted = perSecond.sorted()
            return String(format: "%.0f / %.0f / %.0f", sorted.first!, median, sorted.last!)
        }
    }

    func measure(placements: Int? = nil, _ body: () -> Int) -> Rates {
        let count = placements ?? self.placements
        let clock = ContinuousClock()
        var rates: [Double] = []
        var checksum = 0
        for _ in 0..<max(1, runs) {
            let elapsed = clock.measure {
                for _ in 0..<count { checksum &+= body() }
            }
            rates.append(Double(count) / elapsed.seconds)
        }
        return Rates(perSecond: rates, checksum: checksum)
    }

    /// The least a decision over every machine costs: one pass reading one field of each record.
    static func scanCeiling(_ index: PlacementIndex) -> Int {
        index.totalFreeCpu()
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
