import Foundation
import ZedgeCore

/// The placement engine as it stood when issue #14 began (session 9), kept as the reference the fast engine must
/// agree with: it filters every candidate and sorts every machine that fits. Not used outside the tests.
///
/// Chooses machines for an instance (DESIGN §6). Pure: no I/O, and the clock is passed in.
///
/// Filters, in this order, counting only the first that fails for each machine: pool ACTIVE; machine ACTIVE;
/// health not CRITICAL; heartbeat within `heartbeatFreshness`; hypervisor (when requested); rental mode (an
/// EXCLUSIVE request needs an EXCLUSIVE machine with nothing allocated and claims all of it; a SHARED request
/// needs a SHARED machine); GPU model (when requested with GPUs); free cpu, memory, storage, GPUs.
/// Then ranks by policy, ties broken by machine id (uuidString ascending).
struct ReferencePlacementEngine: Sendable {
    /// A machine whose last heartbeat is older than this is skipped.
    var heartbeatFreshness: TimeInterval

    init(heartbeatFreshness: TimeInterval) {
        self.heartbeatFreshness = heartbeatFreshness
    }

    func place(
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
                    counts[Self.ordinal(reason)] += 1
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
        for reason in PlacementRejection.allCases where counts[Self.ordinal(reason)] > 0 {
            rejections[reason] = counts[Self.ordinal(reason)]
        }
        return PlacementDecision(ranked: keys.map { choices[$0.index] }, fitted: choices.count, rejections: rejections,
                                 considered: candidates.count)
    }

    // MARK: - Internals

    static func ordinal(_ reason: PlacementRejection) -> Int { PlacementRejection.allCases.firstIndex(of: reason)! }

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
            let model = want.gpuCount > 0 ? request.gpuModel.map(ReferencePlacementEngine.normalizedModel) : nil
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
            let score = max(ReferencePlacementEngine.fraction(cpu, of: total.cpuCores),
                            ReferencePlacementEngine.fraction(memory, of: total.memoryGb))
            let choice = PlacementChoice(machineId: m.pointee.id, resourcePoolId: pool.pointee.id, claim: claim,
                                         score: score)
            let waste = ClaimAmounts(cpuCores: total.cpuCores - want.cpuCores, memoryGb: total.memoryGb - want.memoryGb,
                                     storageGb: total.storageGb - want.storageGb, gpuCount: total.gpuCount - want.gpuCount)
            return .fits(choice, waste: waste)
        }

        private mutating func matches(_ model: String, _ wanted: String) -> Bool {
            if let known = modelMatches[model] { return known }
            let result = ReferencePlacementEngine.normalizedModel(model) == wanted
            modelMatches[model] = result
            return result
        }
    }

    static func fraction(_ used: Int, of total: Int) -> Double {
        total > 0 ? Double(used) / Double(total) : 0
    }

    static func normalizedModel(_ model: String) -> String {
        model.trimmed().lowercased()
    }
}
