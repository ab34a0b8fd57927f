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

    public init(machineId: UUID, resourcePoolId: UUID, claim: ClaimAmounts, score: Double) {
        self.machineId = machineId
        self.resourcePoolId = resourcePoolId
        self.claim = claim
        self.score = score
    }
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
}

/// The outcome of one placement: the best machines that fit, best first, how many fit, and why the others did not.
public struct PlacementDecision: Sendable {
    /// Best first, at most the `limit` asked for. Try them in order: a claim may lose a race, then the next one is
    /// tried.
    public var ranked: [PlacementChoice]
    /// How many machines fit (`ranked` holds the best of them).
    public var fitted: Int
    /// How many machines each (first-failing) filter removed; reasons that removed none are absent.
    public var rejections: [PlacementRejection: Int]
    /// How many candidates were examined.
    public var considered: Int

    public init(ranked: [PlacementChoice], fitted: Int, rejections: [PlacementRejection: Int], considered: Int) {
        self.ranked = ranked
        self.fitted = fitted
        self.rejections = rejections
        self.considered = considered
    }

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

        let head = fitted == 0
            ? "no machine can take \(wanted)"
            : "\(fitted) of \(Self.count(considered, "machine")) can take \(wanted)"
        guard considered > 0 else { return head + ": there are no candidate machines" }
        let reasons = PlacementRejection.allCases.compactMap { reason -> String? in
            guard let n = rejections[reason], n > 0 else { return nil }
            return "\(n) \(reason.explanation)"
        }
        if fitted == 0 {
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
/// health not CRITICAL; heartbeat within `heartbeatFreshness`; hypervisor (when requested); data center (when
/// requested); integration bridge (when NICs need one); rental mode (an EXCLUSIVE request needs an EXCLUSIVE
/// machine with nothing allocated and claims all of it; a SHARED request needs a SHARED machine); GPU model (when
/// requested with GPUs); free cpu, memory, storage, GPUs. Then ranks by policy, ties broken by holding the image,
/// then machine id (uuidString ascending).
///
/// One pass over a `PlacementIndex` counts every rejection and keeps only the best `limit` machines that fit (a
/// bounded insertion, not a sort of every fit): the claim tries a few, never thousands.
public struct PlacementEngine: Sendable {
    /// A machine whose last heartbeat is older than this is skipped.
    public var heartbeatFreshness: TimeInterval

    public init(heartbeatFreshness: TimeInterval) {
        self.heartbeatFreshness = heartbeatFreshness
    }

    /// Ranks the machines of `index` for the request: the best `limit` that fit, how many fit, and why the others
    /// did not. `imageHolders`: the machines whose agents hold the instance's image. `pool`: only that pool's
    /// machines are considered (the others are neither counted nor ranked, as if the index held that pool alone).
    public func place(
        _ request: PlacementRequest,
        in index: PlacementIndex,
        policy: SchedulingPolicy,
        now: Date,
        imageHolders: Set<UUID> = [],
        limit: Int = .max,
        pool: UUID? = nil
    ) -> PlacementDecision {
        let want = request.resources
        let exclusive = request.rentalMode == .exclusive
        let binPack = policy == .binPack
        let nowSeconds = now.timeIntervalSinceReferenceDate
        let freshness = heartbeatFreshness
        let wantCpu = want.cpuCores, wantMemory = want.memoryGb, wantStorage = want.storageGb, wantGpus = want.gpuCount
        let staticMasks = Self.staticMasks(request, index)
        let holders = Set(imageHolders.compactMap { index.location(of: $0)?.packed })
        var counts = [Int](repeating: 0, count: Filter.fits + 1)
        var best = TopK(limit: max(0, limit))
        // A fit is worth an exact look only if its cheap score can beat the worst kept (a small margin covers the
        // rounding of x * (1/t) against x / t).
        var bound = Double.infinity
        // A pool the index does not know has no machines here.
        let poolSlot: Int32? = pool.map { index.poolSlotIfKnown($0) ?? -1 }
        var considered = 0

        for (group, staticMask) in staticMasks.enumerated() {
            let records = index.groups[group].records
            guard !records.isEmpty else { continue }
            if let poolSlot, index.classes[group].pool != poolSlot { continue }
            considered += records.count
            // A class that fails a filter before the heartbeat's: all of it, without reading a record.
            if staticMask & Filter.beforeHeartbeat != 0 {
                counts[staticMask.trailingZeroBitCount] += records.count
                continue
            }
            let staticA = staticMask & Filter.beforeExclusiveInUse  // hypervisor, data center, bridge, rental mode
            let staticB = staticMask & (1 << Filter.position(.gpuModelMismatch))
            // A class that fails a static filter fits nowhere: only what comes before that filter is per machine.
            if staticA != 0 || staticB != 0 {
                var stale = 0, inUse = 0
                let countsInUse = staticA == 0 && exclusive
                records.withUnsafeBufferPointer { records in
                    for m in records {
                        let isStale = !(nowSeconds - m.heartbeat <= freshness)
                        stale &+= isStale ? 1 : 0
                        inUse &+= !isStale && countsInUse ? Int(m.inUse) : 0
                    }
                }
                counts[Filter.heartbeatStale] += stale
                counts[Filter.exclusiveInUse] += inUse
                counts[(staticA != 0 ? staticA : staticB).trailingZeroBitCount] += records.count - stale - inUse
                continue
            }
            // Otherwise each machine fails the heartbeat or a dynamic filter, or fits. Each outcome is a 7-bit field
            // of one word, in filter order: the lowest set bit of a machine's word is its outcome, and adding that
            // bit counts it (flushed before a field can overflow).
            let fixed = 1 << Packed.fits
            let inUseShift = exclusive ? Packed.inUse : 63  // a SHARED request never fails "in use": shifted out
            var tally = [Int](repeating: 0, count: Packed.fields)
            records.withUnsafeBufferPointer { records in
                var start = 0
                while start < records.count {
                    let end = min(records.count, start + Packed.flushEvery)
                    var packed = 0
                    for position in start..<end {
                        let m = records[position]
                        var mask = fixed
                        mask |= Self.bit(!(nowSeconds - m.heartbeat <= freshness), Packed.stale)
                        mask |= Int(m.inUse) &<< inUseShift
                        mask |= Self.bit(Int(m.freeCpu) < wantCpu, Packed.cpu)
                        mask |= Self.bit(Int(m.freeMemory) < wantMemory, Packed.memory)
                        mask |= Self.bit(Int(m.freeStorage) < wantStorage, Packed.storage)
                        mask |= Self.bit(Int(m.freeGpus) < wantGpus, Packed.gpus)
                        let first = mask & (0 &- mask)
                        packed &+= first
                        let usedCpu = Int(m.usedCpu), usedMemory = Int(m.usedMemory)
                        let cheap: Double = exclusive
                            ? Double(Int(m.freeCpu) + usedCpu - wantCpu)
                            : max(Double(usedCpu + wantCpu) * m.inverseCpu, Double(usedMemory + wantMemory) * m.inverseMemory)
                        let primary = exclusive || !binPack ? cheap : -cheap
                        // One branch, taken rarely once `limit` are kept (fitting or not is as random as the fleet).
                        let candidate = (first == 1 << Packed.fits ? 1 : 0) & (primary <= bound ? 1 : 0)
                        guard candidate != 0 else { continue }

                        let total = m.total
                        let location = PlacementIndex.Location(group: Int32(group), position: Int32(position))
                        var key: Key
                        if exclusive {
                            // The whole machine is taken whatever the policy, so the tightest fit wastes least.
                            key = Key(primary: cheap, secondary: total.memoryGb - wantMemory, image: 1, slot: location.packed)
                        } else {
                            // load_balance: least utilised after placement first; bin_pack: most utilised first.
                            let score = max(Self.fraction(usedCpu + wantCpu, of: total.cpuCores),
                                            Self.fraction(usedMemory + wantMemory, of: total.memoryGb))
                            key = Key(primary: binPack ? -score : score, secondary: 0, image: 1, slot: location.packed)
                        }
                        if !holders.isEmpty, holders.contains(location.packed) { key.image = 0 }
                        (key.idHigh, key.idLow) = PlacementIndex.words(index.groups[group].ids[position])
                        if best.offer(key), let worst = best.worst {
                            bound = worst.primary + abs(worst.primary) * 1e-9 + 1e-12
                        }
                    }
                    for field in 0..<Packed.fields { tally[field] += (packed >> (field * Packed.width)) & Packed.fieldMask }
                    start = end
                }
            }
            counts[Filter.heartbeatStale] += tally[0]
            counts[Filter.exclusiveInUse] += tally[1]
            counts[Filter.cpu] += tally[2]
            counts[Filter.memory] += tally[3]
            counts[Filter.storage] += tally[4]
            counts[Filter.gpus] += tally[5]
            counts[Filter.fits] += tally[6]
        }

        var rejections: [PlacementRejection: Int] = [:]
        for (position, reason) in Filter.order.enumerated() where counts[position] > 0 {
            rejections[reason] = counts[position]
        }
        let ranked = best.keys.map { key -> PlacementChoice in
            let location = PlacementIndex.Location(packed: key.slot)
            let group = index.groups[Int(location.group)]
            let m = group.records[Int(location.position)]
            let total = m.total
            // EXCLUSIVE: how much of the machine the request itself uses; SHARED: utilisation after placement.
            let (cpu, memory) = exclusive ? (wantCpu, wantMemory) : (Int(m.usedCpu) + wantCpu, Int(m.usedMemory) + wantMemory)
            let pool = index.pools[Int(index.classes[Int(location.group)].pool)]
            return PlacementChoice(machineId: group.ids[Int(location.position)], resourcePoolId: pool.id,
                                   claim: exclusive ? total : want,
                                   score: max(Self.fraction(cpu, of: total.cpuCores), Self.fraction(memory, of: total.memoryGb)))
        }
        return PlacementDecision(ranked: ranked, fitted: counts[Filter.fits], rejections: rejections, considered: considered)
    }

    /// The filters' bit positions, in the order they are applied (DESIGN §6).
    enum Filter {
        static let order: [PlacementRejection] = [
            .poolNotActive, .machineMaintenance, .machineOffline, .machineDecommissioning, .machineCritical, .heartbeatStale,
            .hypervisorMismatch, .otherDataCenter, .noIntegrationBridge, .rentalModeMismatch, .exclusiveMachineInUse,
            .gpuModelMismatch, .insufficientCpu, .insufficientMemory, .insufficientStorage, .insufficientGpu,
        ]
        static let heartbeatStale = position(.heartbeatStale), exclusiveInUse = position(.exclusiveMachineInUse)
        static let cpu = position(.insufficientCpu), memory = position(.insufficientMemory)
        static let storage = position(.insufficientStorage), gpus = position(.insufficientGpu)
        /// The filters applied before the heartbeat's (pool, machine status, health): all static.
        static let beforeHeartbeat = (1 << heartbeatStale) - 1
        /// The static filters between the heartbeat's and "in use" (hypervisor, data center, bridge, rental mode).
        static let beforeExclusiveInUse = ((1 << exclusiveInUse) - 1) & ~((1 << (heartbeatStale + 1)) - 1)
        /// Past the last filter: the count of machines that fit.
        static let fits = order.count

        static func position(_ reason: PlacementRejection) -> Int { order.firstIndex(of: reason)! }
    }

    /// The outcomes of a machine of a class that passes every static filter, as 7-bit fields of one word in filter
    /// order (the dynamic filters' and "fits").
    enum Packed {
        static let width = 7
        static let fieldMask = (1 << width) - 1
        static let fields = 7
        /// A field counts up to 127: the word is read out and cleared after this many machines.
        static let flushEvery = (1 << width) - 1
        static let stale = 0 * width, inUse = 1 * width, cpu = 2 * width, memory = 3 * width, storage = 4 * width, gpus = 5 * width
        /// Set on every machine: the lowest set bit when no filter fails.
        static let fits = 6 * width
    }

    @inline(__always)
    static func bit(_ condition: Bool, _ position: Int) -> Int {
        (condition ? 1 : 0) << position
    }

    /// Each static class's failing filters for this request, as bits in filter order.
    static func staticMasks(_ request: PlacementRequest, _ index: PlacementIndex) -> [Int] {
        let exclusive = request.rentalMode == .exclusive
        let dataCenter: Int32? = request.edgeDataCenterId.map { index.dataCenterSlotIfKnown($0) ?? -1 }
        let wantedModel = request.resources.gpuCount > 0 ? request.gpuModel.map(normalizedModel) : nil
        let gpuModel: Int32? = wantedModel.flatMap { $0.isEmpty ? nil : (index.gpuModelSlotIfKnown($0) ?? -1) }
        return index.classes.map { c in
            var mask = 0
            if !index.pools[Int(c.pool)].active { mask |= 1 << Filter.position(.poolNotActive) }
            switch c.status {
            case .active: break
            case .maintenance: mask |= 1 << Filter.position(.machineMaintenance)
            case .offline: mask |= 1 << Filter.position(.machineOffline)
            case .decommissioning: mask |= 1 << Filter.position(.machineDecommissioning)
            }
            if c.critical { mask |= 1 << Filter.position(.machineCritical) }
            if let hypervisor = request.hypervisorType, c.hypervisor != hypervisor { mask |= 1 << Filter.position(.hypervisorMismatch) }
            if let dataCenter, c.dataCenter != dataCenter { mask |= 1 << Filter.position(.otherDataCenter) }
            if request.needsIntegrationBridge, !c.hasBridge { mask |= 1 << Filter.position(.noIntegrationBridge) }
            if c.exclusive != exclusive { mask |= 1 << Filter.position(.rentalModeMismatch) }
            if let gpuModel, c.gpuModel != gpuModel { mask |= 1 << Filter.position(.gpuModelMismatch) }
            return mask
        }
    }

    /// Ranks `candidates` (a snapshot read for this one request): `place(_:in:…)` over an index of them, each
    /// candidate's `holdsImage` saying whether it holds the instance's image.
    public func place(
        _ request: PlacementRequest,
        among candidates: [PlacementCandidate],
        policy: SchedulingPolicy,
        now: Date,
        limit: Int = .max
    ) -> PlacementDecision {
        var holders = Set<UUID>()
        for index in candidates.indices where candidates[index].holdsImage { holders.insert(candidates[index].machine.id) }
        return place(request, in: PlacementIndex(candidates), policy: policy, now: now, imageHolders: holders, limit: limit)
    }

    // MARK: - Internals

    /// A fitting machine's rank: primary, then secondary, then holding the image, then machine id.
    struct Key {
        var primary: Double
        var secondary: Int
        /// 0 when the machine holds the instance's image, else 1.
        var image: Int
        var idHigh: UInt64 = 0
        var idLow: UInt64 = 0
        var slot: Int

        init(primary: Double, secondary: Int, image: Int, slot: Int) {
            self.primary = primary
            self.secondary = secondary
            self.image = image
            self.slot = slot
        }

        /// Whether `a` ranks before `b`.
        static func precedes(_ a: Key, _ b: Key) -> Bool {
            if a.primary != b.primary { return a.primary < b.primary }
            if a.secondary != b.secondary { return a.secondary < b.secondary }
            if a.image != b.image { return a.image < b.image }
            if a.idHigh != b.idHigh { return a.idHigh < b.idHigh }
            return a.idLow < b.idLow
        }
    }

    /// The best `limit` keys offered, kept in order: an offer that does not beat the worst kept costs one comparison.
    /// Beyond `boundedUpTo` (a caller that wants every fit ranked) keys are gathered and sorted once at the end.
    struct TopK {
        static let boundedUpTo = 256
        let limit: Int
        private var kept: [Key] = []

        init(limit: Int) {
            self.limit = limit
            if limit <= Self.boundedUpTo { kept.reserveCapacity(limit) }
        }

        /// The worst key kept once `limit` are kept (nil before, and always when unbounded).
        var worst: Key? { limit <= Self.boundedUpTo && kept.count == limit ? kept.last : nil }

        /// Keeps `key` if it is among the best so far; whether it was kept.
        @discardableResult
        mutating func offer(_ key: Key) -> Bool {
            guard limit <= Self.boundedUpTo else {
                kept.append(key)
                return true
            }
            guard limit > 0 else { return false }
            if kept.count == limit {
                guard let worst = kept.last, Key.precedes(key, worst) else { return false }
                kept.removeLast()
            }
            // Binary search for the first kept key that `key` precedes.
            var low = 0, high = kept.count
            while low < high {
                let mid = (low + high) / 2
                if Key.precedes(key, kept[mid]) { high = mid } else { low = mid + 1 }
            }
            kept.insert(key, at: low)
            return true
        }

        /// The best keys, best first.
        var keys: [Key] {
            guard limit > Self.boundedUpTo else { return kept }
            return Array(kept.sorted(by: Key.precedes).prefix(limit))
        }
    }

    static func fraction(_ used: Int, of total: Int) -> Double {
        total > 0 ? Double(used) / Double(total) : 0
    }

    static func normalizedModel(_ model: String) -> String {
        model.trimmed().lowercased()
    }
}
