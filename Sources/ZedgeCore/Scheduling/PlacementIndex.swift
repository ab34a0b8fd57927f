#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The machines placement ranks, kept compact for the engine's scan (DESIGN §6), updated in place as machines
/// change, heartbeat, and gain or lose claims, so that a placement reads no database and copies no
/// `ComputeMachine`.
///
/// Each machine is one `Record` (numbers only: heartbeat, sizes, allocations), kept with the others of its
/// `StaticClass`: what a request can only match or not as a whole (pool, status, health, hypervisor, data center,
/// bridge, rental mode, GPU model). The engine works out each class's verdict once per request, counts a class that
/// fails before the heartbeat filter without reading its records, and scans the others with the class's verdict
/// fixed. A value type: a copy is a snapshot (copy-on-write arrays).
/// Order of records carries no meaning: the engine breaks every tie by machine id.
public struct PlacementIndex: Sendable {
    /// One machine, as the scan sees it. Amounts are stored as Int32 (cores, GB): larger values are clamped.
    struct Record {
        /// Seconds since the reference date; -infinity for none.
        var heartbeat: Double
        /// 1 / cpuCores and 1 / memoryGb (0 for a size of 0): a cheap bound on the score before the exact one.
        var inverseCpu: Double
        var inverseMemory: Double
        var totalCpu: Int32
        var totalMemory: Int32
        var totalStorage: Int32
        var totalGpus: Int32
        var usedCpu: Int32
        var usedMemory: Int32
        var usedStorage: Int32
        var usedGpus: Int32
    }

    /// The machines of one static class: their records and ids, position for position.
    struct Group {
        var records: [Record] = []
        var ids: [UUID] = []
    }

    /// Where a machine's record is: its class, and its position in the class's group.
    struct Location: Hashable {
        var group: Int32
        var position: Int32

        /// One number for the pair (for sets and sort keys).
        var packed: Int { Int(group) << 32 | Int(position) }
        init(group: Int32, position: Int32) {
            self.group = group
            self.position = position
        }
        init(packed: Int) {
            group = Int32(truncatingIfNeeded: packed >> 32)
            position = Int32(truncatingIfNeeded: packed)
        }
    }

    /// What a request can only match or not for all of a class's machines at once.
    struct StaticClass: Hashable {
        var pool: Int32
        var dataCenter: Int32
        /// Into `gpuModels` (normalised; "" for none).
        var gpuModel: Int32
        var status: ComputeMachineStatus
        var critical: Bool
        var exclusive: Bool
        var hasBridge: Bool
        var hypervisor: HypervisorType
    }

    /// By class slot (the same as `classes`).
    private(set) var groups: [Group] = []
    private var slots: [UUID: Location] = [:]
    public private(set) var count = 0
    private(set) var classes: [StaticClass] = []
    private var classSlots: [StaticClass: Int32] = [:]
    /// Pools by slot: id and whether ACTIVE.
    private(set) var pools: [(id: UUID, active: Bool)] = []
    private var poolSlots: [UUID: Int32] = [:]
    private(set) var dataCenters: [UUID] = []
    private var dataCenterSlots: [UUID: Int32] = [:]
    private(set) var gpuModels: [String] = []
    private var gpuModelSlots: [String: Int32] = [:]

    public init() {}

    /// An index of these machines and their pools (the last of a repeated machine id wins).
    public init(_ candidates: [PlacementCandidate]) {
        slots.reserveCapacity(candidates.count)
        for candidate in candidates { upsert(candidate.machine, in: candidate.pool) }
    }

    /// Whether it holds the machine.
    public func contains(_ machineId: UUID) -> Bool { slots[machineId] != nil }

    /// Adds the machine, or replaces what it knew of it (its pool, status, sizes, allocations and heartbeat).
    public mutating func upsert(_ machine: ComputeMachine, in pool: ResourcePool) {
        let staticClass = classSlot(StaticClass(
            pool: upsertPool(pool), dataCenter: dataCenterSlot(machine.edgeDataCenterId),
            gpuModel: gpuModelSlot(PlacementEngine.normalizedModel(machine.gpuModel ?? "")),
            status: machine.status, critical: machine.healthStatus == .critical, exclusive: machine.rentalMode == .exclusive,
            hasBridge: machine.integrationBridge != nil, hypervisor: machine.hypervisorType))
        let record = Record(
            heartbeat: machine.lastHeartbeat?.timeIntervalSinceReferenceDate ?? -.infinity,
            inverseCpu: machine.cpuCores > 0 ? 1 / Double(machine.cpuCores) : 0,
            inverseMemory: machine.memoryGb > 0 ? 1 / Double(machine.memoryGb) : 0,
            totalCpu: Self.clamped(machine.cpuCores), totalMemory: Self.clamped(machine.memoryGb),
            totalStorage: Self.clamped(machine.storageGb), totalGpus: Self.clamped(machine.gpuCount ?? 0),
            usedCpu: Self.clamped(machine.allocatedCpuCores), usedMemory: Self.clamped(machine.allocatedMemoryGb),
            usedStorage: Self.clamped(machine.allocatedStorageGb), usedGpus: Self.clamped(machine.allocatedGpuCount))
        if let location = slots[machine.id], location.group == staticClass {
            groups[Int(location.group)].records[Int(location.position)] = record
            return
        }
        remove(machine.id)
        let position = Int32(groups[Int(staticClass)].records.count)
        groups[Int(staticClass)].records.append(record)
        groups[Int(staticClass)].ids.append(machine.id)
        slots[machine.id] = Location(group: staticClass, position: position)
        count += 1
    }

    /// Forgets the machine (removed from the fleet).
    public mutating func remove(_ machineId: UUID) {
        guard let location = slots.removeValue(forKey: machineId) else { return }
        let group = Int(location.group), position = Int(location.position)
        let last = groups[group].records.count - 1
        if position != last {
            groups[group].records[position] = groups[group].records[last]
            groups[group].ids[position] = groups[group].ids[last]
            slots[groups[group].ids[position]] = location
        }
        groups[group].records.removeLast()
        groups[group].ids.removeLast()
        count -= 1
    }

    /// The machine's newest heartbeat (an older one than it knows changes nothing).
    public mutating func heartbeat(_ machineId: UUID, at time: Date) {
        guard let location = slots[machineId] else { return }
        let group = Int(location.group), position = Int(location.position)
        groups[group].records[position].heartbeat = max(groups[group].records[position].heartbeat, time.timeIntervalSinceReferenceDate)
    }

    /// Moves the machine's allocated amounts by `amounts` (`sign` 1 for a claim taken, -1 for one given back).
    public mutating func allocate(_ amounts: ClaimAmounts, on machineId: UUID, sign: Int = 1) {
        guard let location = slots[machineId] else { return }
        let group = Int(location.group), position = Int(location.position)
        groups[group].records[position].usedCpu = Self.clamped(Int(groups[group].records[position].usedCpu) + sign * amounts.cpuCores)
        groups[group].records[position].usedMemory = Self.clamped(Int(groups[group].records[position].usedMemory) + sign * amounts.memoryGb)
        groups[group].records[position].usedStorage = Self.clamped(Int(groups[group].records[position].usedStorage) + sign * amounts.storageGb)
        groups[group].records[position].usedGpus = Self.clamped(Int(groups[group].records[position].usedGpus) + sign * amounts.gpuCount)
    }

    /// Adds the pool or replaces what it knew of it (its status).
    public mutating func upsert(_ pool: ResourcePool) { _ = upsertPool(pool) }

    /// The free CPU cores of every machine, summed: one pass over the records (the scan ceiling `zedge-bench
    /// placement` compares the engine with).
    public func totalFreeCpu() -> Int {
        var sum = 0
        for group in groups {
            group.records.withUnsafeBufferPointer { records in
                for record in records { sum &+= Int(record.totalCpu) &- Int(record.usedCpu) }
            }
        }
        return sum
    }

    /// The slot of a data center (nil when no machine is in it).
    func dataCenterSlotIfKnown(_ id: UUID) -> Int32? { dataCenterSlots[id] }

    /// The slot of a normalised GPU model (nil when no machine has it).
    func gpuModelSlotIfKnown(_ model: String) -> Int32? { gpuModelSlots[model] }

    func location(of machineId: UUID) -> Location? { slots[machineId] }

    private mutating func classSlot(_ staticClass: StaticClass) -> Int32 {
        if let slot = classSlots[staticClass] { return slot }
        let slot = Int32(classes.count)
        classes.append(staticClass)
        groups.append(Group())
        classSlots[staticClass] = slot
        return slot
    }

    private mutating func upsertPool(_ pool: ResourcePool) -> Int32 {
        if let slot = poolSlots[pool.id] {
            pools[Int(slot)].active = pool.status == .active
            return slot
        }
        let slot = Int32(pools.count)
        pools.append((pool.id, pool.status == .active))
        poolSlots[pool.id] = slot
        return slot
    }

    private mutating func dataCenterSlot(_ id: UUID) -> Int32 {
        if let slot = dataCenterSlots[id] { return slot }
        let slot = Int32(dataCenters.count)
        dataCenters.append(id)
        dataCenterSlots[id] = slot
        return slot
    }

    private mutating func gpuModelSlot(_ model: String) -> Int32 {
        if let slot = gpuModelSlots[model] { return slot }
        let slot = Int32(gpuModels.count)
        gpuModels.append(model)
        gpuModelSlots[model] = slot
        return slot
    }

    static func clamped(_ value: Int) -> Int32 {
        Int32(clamping: value)
    }

    /// The id's 16 bytes as two big-endian words: ordering them equals ordering `uuidString`s.
    static func words(_ id: UUID) -> (UInt64, UInt64) {
        withUnsafeBytes(of: id.uuid) { raw in
            (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }
}
