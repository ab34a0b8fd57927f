#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a resource pool chooses among the machines that can take an instance (DESIGN §6).
public enum SchedulingPolicy: String, Sendable, Hashable, CaseIterable {
    /// Spread: the machine least utilised after placement comes first (the seed's default).
    case loadBalance = "load_balance"
    /// Pack: the machine most utilised after placement (that still fits) comes first.
    case binPack = "bin_pack"

    /// The pool's policy string; unknown strings fall back to load_balance.
    public init(poolPolicy: String) {
        let normalized = poolPolicy.trimmed().lowercased()
        self = SchedulingPolicy(rawValue: normalized) ?? .loadBalance
    }
}

/// Amounts of compute resources an instance claims on a machine.
public struct ClaimAmounts: Codable, Sendable, Hashable {
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int

    public init(cpuCores: Int, memoryGb: Int, storageGb: Int, gpuCount: Int) {
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
    }

    /// Nothing at all.
    public static let zero = ClaimAmounts(cpuCores: 0, memoryGb: 0, storageGb: 0, gpuCount: 0)
}

/// What an instance needs from a machine. Amounts are expected to be validated (non-negative) by the caller.
public struct PlacementRequest: Sendable, Hashable {
    public var resources: ClaimAmounts
    /// Required GPU model (compared trimmed and case-insensitively); only checked when `resources.gpuCount > 0`.
    public var gpuModel: String?
    public var rentalMode: RentalMode
    /// Required hypervisor; nil accepts any.
    public var hypervisorType: HypervisorType?
    /// The data center the instance must run in (where its subnets' addresses live); nil accepts any.
    public var edgeDataCenterId: UUID?
    /// The instance has NICs: only machines whose agent reports an Open vSwitch integration bridge fit.
    public var needsIntegrationBridge: Bool

    public init(
        resources: ClaimAmounts,
        gpuModel: String? = nil,
        rentalMode: RentalMode = .shared,
        hypervisorType: HypervisorType? = nil,
        edgeDataCenterId: UUID? = nil,
        needsIntegrationBridge: Bool = false
    ) {
        self.edgeDataCenterId = edgeDataCenterId
        self.needsIntegrationBridge = needsIntegrationBridge
        self.resources = resources
        self.gpuModel = gpuModel
        self.rentalMode = rentalMode
        self.hypervisorType = hypervisorType
    }
}

/// A machine and the pool it belongs to, as read in one snapshot.
public struct PlacementCandidate: Sendable, Hashable {
    public var machine: ComputeMachine
    public var pool: ResourcePool
    /// The machine's agent already holds the instance's image in its cache: among otherwise equal machines it
    /// ranks first (no download before the VM starts).
    public var holdsImage: Bool

    public init(machine: ComputeMachine, pool: ResourcePool, holdsImage: Bool = false) {
        self.machine = machine
        self.pool = pool
        self.holdsImage = holdsImage
    }
}

/// One machine that can take the request, with what it would claim there.
public struct PlacementChoice: Sendable, Hashable {
    public var machineId: UUID
    public var resourcePoolId: UUID
    /// What to add to the machine's allocations: the request for SHARED, the whole machine for EXCLUSIVE.
    public var claim: ClaimAmounts
    /// SHARED: utilisation after placement, max of the cpu and memory fractions (0…1).
    /// EXCLUSIVE: the share of the machine the request itself uses, max of the cpu and memory fractions (1 = no waste).
    public var score: Double
}

/// Why a machine was not a candidate; only the first failing filter is counted.
public enum PlacementRejection: String, Sendable, Hashable, CaseIterable {
    case poolNotActive
    case machineMaintenance
    case machineOffline
    case machineDecommissioning
    case machineCritical
    case heartbeatStale
    case rentalModeMismatch
    case exclusiveMachineInUse
    case hypervisorMismatch
    case otherDataCenter
    case noIntegrationBridge
    case gpuModelMismatch
    case insufficientCpu
    case insufficientMemory
    case insufficientStorage
    case insufficientGpu

    /// A phrase that follows a machine count, e.g. "3 lack free CPU", "2 in MAINTENANCE".
    public var explanation: String {
        switch self {
        case .poolNotActive: "in a pool that is not ACTIVE"
        case .machineMaintenance: "in MAINTENANCE"
        case .machineOffline: "OFFLINE"
        case .machineDecommissioning: "DECOMMISSIONING"
        case .machineCritical: "CRITICAL"
        case .heartbeatStale: "without a recent heartbeat"
        case .rentalModeMismatch: "of the other rental mode"
        case .exclusiveMachineInUse: "EXCLUSIVE and already in use"
        case .hypervisorMismatch: "on another hypervisor"
        case .otherDataCenter: "in another edge data center than the instance's subnets"
        case .noIntegrationBridge: "without an Open vSwitch integration bridge (their agents report none; see the agent's --integration-bridge)"
        case .gpuModelMismatch: "with another GPU model"
        case .insufficientCpu: "lack free CPU"
        case .insufficientMemory: "lack free memory"
        case .insufficientStorage: "lack free storage"
        case .insufficientGpu: "lack free GPUs"
        }
    }

    /// Position in `allCases`, for counting without hashing.
    fileprivate var ordinal: Int {
        switch self {
        case .poolNotActive: 0
        case .machineMaintenance: 1
        case .machineOffline: 2
        case .machineDecommissioning: 3
        case .machineCritical: 4
        case .heartbeatStale: 5
        case .rentalModeMismatch: 6
        case .exclusiveMachineInUse: 7
        case .hypervisorMismatch: 8
        case .gpuModelMismatch: 9
        case .insufficientCpu: 10
        case .insufficientMemory: 11
        case .insufficientStorage: 12
        case .insufficientGpu: 13
        case .otherDataCenter: 14
        case .noIntegrationBridge: 15
        }
    }
}

/// The outcome of one placement: every machine that fits, best first, and why the others did not.
public struct PlacementDecision: Sendable {
    /// Best first. Try them in order: a claim may lose a race, then the next one is tried.
    public var ranked: [PlacementChoice]
    /// How many machines each (first-failing) filter removed; reasons that removed none are absent.
    public var rejections: [PlacementRejection: Int]
    /// How many candidates were examined.
    public var considered: Int

    /// One line for a 409: "no machine can take 4 CPU cores, 8 GB memory, 40 GB storage, 0 GPUs (SHARED): of 12
    /// machines, 3 lack free CPU, 2 in MAINTENANCE, …" (counts in `PlacementRejection.allCases` order).
    public func summary(for request: PlacementRequest) -> String {
        let r = request.resources
        var wanted = "\(Self.count(r.cpuCores, "CPU core")), \(r.memoryGb) GB memory, \(r.storageGb) GB storage, "
            + Self.count(r.gpuCount, "GPU")
        if r.gpuCount > 0, let model = request.gpuModel?.trimmed(),
           !model.isEmpty {
            wanted += " \(model)"
        }
        var modes = [request.rentalMode.rawValue]
        if let hypervisor = request.hypervisorType { modes.append(hypervisor.rawValue) }
        wanted += " (\(modes.joined(separator: ", ")))"

        let head = ranked.isEmpty
            ? "no machine can take \(wanted)"
            : "\(ranked.count) of \(Self.count(considered, "machine")) can take \(wanted)"
        guard considered > 0 else { return head + ": there are no candidate machines" }
        let reasons = PlacementRejection.allCases.compactMap { reason -> String? in
            guard let n = rejections[reason], n > 0 else { return nil }
            return "\(n) \(reason.explanation)"
        }
        if ranked.isEmpty {
            return ([head + ": of " + Self.count(considered, "machine")] + reasons).joined(separator: ", ")
        }
        return reasons.isEmpty ? head : head + "; " + reasons.joined(separator: ", ")
    }

    private static func count(_ n: Int, _ noun: String) -> String {
        n == 1 ? "1 \(noun)" : "\(n) \(noun)s"
    }
}

/// Chooses machines for an instance (DESIGN §6). Pure: no I/O, and the clock is passed in.
///
/// Filters, in this order, counting only the first that fails for each machine: pool ACTIVE; machine ACTIVE;
/// health not CRITICAL; heartbeat within `heartbeatFreshness`; hypervisor (when requested); rental mode (an
/// EXCLUSIVE request needs an EXCLUSIVE machine with nothing allocated and claims all of it; a SHARED request
/// needs a SHARED machine); GPU model (when requested with GPUs); free cpu, memory, storage, GPUs.
/// Then ranks by policy, ties broken by machine id (uuidString ascending).
public struct PlacementEngine: Sendable {
    /// A machine whose last heartbeat is older than this is skipped.
    public var heartbeatFreshness: TimeInterval

    public init(heartbeatFreshness: TimeInterval) {
        self.heartbeatFreshness = heartbeatFreshness
    }

    public func place(
        _ request: PlacementRequest,
        among candidates: [PlacementCandidate],
        policy: SchedulingPolicy,
        now: Date
    ) -> PlacementDecision {
        var filter = Filter(request: request, heartbeatFreshness: heartbeatFreshness, now: now)
        var counts = [Int](repeating: 0, count: PlacementRejection.allCases.count)
        var choices: [PlacementChoice] = []
        var keys: [SortKey] = []
        choices.reserveCapacity(candidates.count)
        keys.reserveCapacity(candidates.count)

        // Read candidates in place through pointers: copying a ComputeMachine or ResourcePool would retain every
        // string it holds, which dominates the cost of the filter itself.
        candidates.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for index in buffer.indices {
                let candidate = base + index
                switch filter.evaluate(candidate.pointer(to: \.machine)!, in: candidate.pointer(to: \.pool)!) {
                case .rejected(let reason):
                    counts[reason.ordinal] += 1
                case .fits(let choice, let waste):
                    let primary: Double
                    let secondary: Int
                    if filter.exclusive {
                        // The whole machine is taken whatever the policy, so the tightest fit wastes least.
                        (primary, secondary) = (Double(waste.cpuCores), waste.memoryGb)
                    } else {
                        // load_balance: least utilised first; bin_pack: most utilised first.
                        (primary, secondary) = (policy == .binPack ? -choice.score : choice.score, 0)
                    }
                    keys.append(SortKey(primary: primary, secondary: secondary,
                                        image: candidate.pointer(to: \.holdsImage)!.pointee ? 0 : 1, id: choice.machineId,
                                        index: choices.count))
                    choices.append(choice)
                }
            }
        }

        keys.sort(by: SortKey.precedes)
        var rejections: [PlacementRejection: Int] = [:]
        for reason in PlacementRejection.allCases where counts[reason.ordinal] > 0 {
            rejections[reason] = counts[reason.ordinal]
        }
        return PlacementDecision(ranked: keys.map { choices[$0.index] }, rejections: rejections,
                                 considered: candidates.count)
    }

    // MARK: - Internals

    /// A fitting machine's rank, precomputed so the sort compares numbers only.
    private struct SortKey {
        var primary: Double
        var secondary: Int
        /// 0 when the machine holds the instance's image, else 1.
        var image: Int
        /// The id's 16 bytes as two big-endian words: ordering them equals ordering `uuidString`s.
        var idHigh: UInt64
        var idLow: UInt64
        var index: Int

        init(primary: Double, secondary: Int, image: Int, id: UUID, index: Int) {
            self.primary = primary
            self.secondary = secondary
            self.image = image
            (idHigh, idLow) = withUnsafeBytes(of: id.uuid) { raw in
                (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            self.index = index
        }

        /// Whether `a` ranks before `b`: primary, then secondary, then holding the image, then machine id.
        static func precedes(_ a: SortKey, _ b: SortKey) -> Bool {
            if a.primary != b.primary { return a.primary < b.primary }
            if a.secondary != b.secondary { return a.secondary < b.secondary }
            if a.image != b.image { return a.image < b.image }
            if a.idHigh != b.idHigh { return a.idHigh < b.idHigh }
            return a.idLow < b.idLow
        }
    }

    private enum Verdict {
        /// The choice, and what the machine has beyond the request (for EXCLUSIVE ranking).
        case fits(PlacementChoice, waste: ClaimAmounts)
        case rejected(PlacementRejection)
    }

    /// The per-request filter, with everything derivable from the request computed once.
    private struct Filter {
        let want: ClaimAmounts
        let rentalMode: RentalMode
        let exclusive: Bool
        let hypervisorType: HypervisorType?
        let edgeDataCenterId: UUID?
        let needsIntegrationBridge: Bool
        /// Normalised GPU model to match, or nil when none is required (no GPUs asked for, or a blank name).
        let gpuModel: String?
        let heartbeatFreshness: TimeInterval
        let now: Date
        /// Machine GPU model strings seen so far → whether they match; fleets have few distinct models.
        var modelMatches: [String: Bool] = [:]

        init(request: PlacementRequest, heartbeatFreshness: TimeInterval, now: Date) {
            want = request.resources
            rentalMode = request.rentalMode
            exclusive = request.rentalMode == .exclusive
            hypervisorType = request.hypervisorType
            edgeDataCenterId = request.edgeDataCenterId
            needsIntegrationBridge = request.needsIntegrationBridge
            let model = want.gpuCount > 0 ? request.gpuModel.map(PlacementEngine.normalizedModel) : nil
            gpuModel = model?.isEmpty == false ? model : nil
            self.heartbeatFreshness = heartbeatFreshness
            self.now = now
        }

        /// Applies the filters in DESIGN §6 order and returns the first that fails, or the choice.
        mutating func evaluate(_ m: UnsafePointer<ComputeMachine>, in pool: UnsafePointer<ResourcePool>) -> Verdict {
            guard pool.pointee.status == .active else { return .rejected(.poolNotActive) }
            switch m.pointee.status {
            case .active: break
            case .maintenance: return .rejected(.machineMaintenance)
            case .offline: return .rejected(.machineOffline)
            case .decommissioning: return .rejected(.machineDecommissioning)
            }
            guard m.pointee.healthStatus != .critical else { return .rejected(.machineCritical) }
            guard let beat = m.pointee.lastHeartbeat, now.timeIntervalSince(beat) <= heartbeatFreshness else {
                return .rejected(.heartbeatStale)
            }
            if let hypervisorType, m.pointee.hypervisorType != hypervisorType { return .rejected(.hypervisorMismatch) }
            if let edgeDataCenterId, m.pointee.edgeDataCenterId != edgeDataCenterId { return .rejected(.otherDataCenter) }
            if needsIntegrationBridge, m.pointee.integrationBridge == nil { return .rejected(.noIntegrationBridge) }
            guard m.pointee.rentalMode == rentalMode else { return .rejected(.rentalModeMismatch) }
            let used = ClaimAmounts(cpuCores: m.pointee.allocatedCpuCores, memoryGb: m.pointee.allocatedMemoryGb,
                                    storageGb: m.pointee.allocatedStorageGb, gpuCount: m.pointee.allocatedGpuCount)
            if exclusive, used != .zero { return .rejected(.exclusiveMachineInUse) }
            if let gpuModel, !matches(m.pointee.gpuModel ?? "", gpuModel) { return .rejected(.gpuModelMismatch) }
            let total = ClaimAmounts(cpuCores: m.pointee.cpuCores, memoryGb: m.pointee.memoryGb,
                                     storageGb: m.pointee.storageGb, gpuCount: m.pointee.gpuCount ?? 0)
            guard total.cpuCores - used.cpuCores >= want.cpuCores else { return .rejected(.insufficientCpu) }
            guard total.memoryGb - used.memoryGb >= want.memoryGb else { return .rejected(.insufficientMemory) }
            guard total.storageGb - used.storageGb >= want.storageGb else { return .rejected(.insufficientStorage) }
            guard total.gpuCount - used.gpuCount >= want.gpuCount else { return .rejected(.insufficientGpu) }

            let claim = exclusive ? total : want
            // EXCLUSIVE: how much of the machine the request itself uses; SHARED: utilisation after placement.
            let (cpu, memory) = exclusive
                ? (want.cpuCores, want.memoryGb)
                : (used.cpuCores + want.cpuCores, used.memoryGb + want.memoryGb)
            let score = max(PlacementEngine.fraction(cpu, of: total.cpuCores),
                            PlacementEngine.fraction(memory, of: total.memoryGb))
            let choice = PlacementChoice(machineId: m.pointee.id, resourcePoolId: pool.pointee.id, claim: claim,
                                         score: score)
            let waste = ClaimAmounts(cpuCores: total.cpuCores - want.cpuCores, memoryGb: total.memoryGb - want.memoryGb,
                                     storageGb: total.storageGb - want.storageGb, gpuCount: total.gpuCount - want.gpuCount)
            return .fits(choice, waste: waste)
        }

        private mutating func matches(_ model: String, _ wanted: String) -> Bool {
            if let known = modelMatches[model] { return known }
            let result = PlacementEngine.normalizedModel(model) == wanted
            modelMatches[model] = result
            return result
        }
    }

    fileprivate static func fraction(_ used: Int, of total: Int) -> Double {
        total > 0 ? Double(used) / Double(total) : 0
    }

    fileprivate static func normalizedModel(_ model: String) -> String {
        model.trimmed().lowercased()
    }
}
