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
    /// One machine, as the scan sees it (64 bytes). Amounts are stored as Int32 (cores, GB): larger values are
    /// clamped. Free amounts are kept beside the allocated ones so the scan compares without subtracting.
    struct Record {
        /// Seconds since the reference date; -infinity for none.
        var heartbeat: Double
        /// 1 / cpuCores and 1 / memoryGb (0 for a size of 0): a cheap bound on the score before the exact one.
        var inverseCpu: Double
        var inverseMemory: Double
        var freeCpu: Int32
        var freeMemory: Int32
        var freeStorage: Int32
        var freeGpus: Int32
        var usedCpu: Int32
        var usedMemory: Int32
        var usedStorage: Int32
        var usedGpus: Int32
        /// 1 when anything is allocated on it (an EXCLUSIVE request cannot take it), else 0.
        var inUse: Int32

        init(heartbeat: Double, total: ClaimAmounts, used: ClaimAmounts) {
            self.heartbeat = heartbeat
            inverseCpu = total.cpuCores > 0 ? 1 / Double(total.cpuCores) : 0
            inverseMemory = total.memoryGb > 0 ? 1 / Double(total.memoryGb) : 0
            (freeCpu, freeMemory, freeStorage, freeGpus) = (0, 0, 0, 0)
            (usedCpu, usedMemory, usedStorage, usedGpus, inUse) = (0, 0, 0, 0, 0)
            set(total: total, used: used)
        }

        var total: ClaimAmounts {
            ClaimAmounts(cpuCores: Int(freeCpu) + Int(usedCpu), memoryGb: Int(freeMemory) + Int(usedMemory),
                         storageGb: Int(freeStorage) + Int(usedStorage), gpuCount: Int(freeGpus) + Int(usedGpus))
        }

        var used: ClaimAmounts {
            ClaimAmounts(cpuCores: Int(usedCpu), memoryGb: Int(usedMemory), storageGb: Int(usedStorage), gpuCount: Int(usedGpus))
        }

        mutating func set(total: ClaimAmounts, used: ClaimAmounts) {
            usedCpu = PlacementIndex.clamped(used.cpuCores)
            usedMemory = PlacementIndex.clamped(used.memoryGb)
            usedStorage = PlacementIndex.clamped(used.storageGb)
            usedGpus = PlacementIndex.clamped(used.gpuCount)
            freeCpu = PlacementIndex.clamped(total.cpuCores - Int(usedCpu))
            freeMemory = PlacementIndex.clamped(total.memoryGb - Int(usedMemory))
            freeStorage = PlacementIndex.clamped(total.storageGb - Int(usedStorage))
            freeGpus = PlacementIndex.clamped(total.gpuCount - Int(usedGpus))
            inUse = used == .zero ? 0 : 1
        }
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
    private var classSlots = Slots<StaticClass>()
    /// Pools by slot: id and whether ACTIVE.
    private(set) var pools: [(id: UUID, active: Bool)] = []
    private var poolSlots: [UUID: Int32] = [:]
    private var dataCenterSlots = Slots<UUID>()
    /// Normalised models ("" for none).
    private var gpuModelSlots = Slots<String>()

    public init() {}

    /// An index of these machines and their pools (the last of a repeated machine id wins).
    public init(_ candidates: [PlacementCandidate]) {
        slots.reserveCapacity(candidates.count)
        // Read in place: copying a candidate would retain every string it holds.
        candidates.withUnsafeBufferPointer { buffer in
            for candidate in buffer.indices.lazy.map({ buffer.baseAddress! + $0 }) {
                upsert(candidate.pointer(to: \.machine)!.pointee, in: candidate.pointer(to: \.pool)!.pointee)
            }
        }
    }

    /// The slots used last: a fleet read pool by pool repeats its pool, data center, GPU model and class, and
    /// comparing with the last costs less than hashing.
    private struct Recent: Sendable {
        var pool: (id: UUID, active: Bool, slot: Int32)?
        var dataCenter: (id: UUID, slot: Int32)?
        var gpuModel: (raw: String?, slot: Int32)?
        var staticClass: (value: StaticClass, slot: Int32)?
    }

    private var recent = Recent()

    /// Adds the machine, or replaces what it knew of it (its pool, status, sizes, allocations and heartbeat).
    public mutating func upsert(_ machine: borrowing ComputeMachine, in pool: borrowing ResourcePool) {
        let poolSlot: Int32
        if let last = recent.pool, last.id == pool.id, last.active == (pool.status == .active) {
            poolSlot = last.slot
        } else {
            poolSlot = upsertPool(id: pool.id, active: pool.status == .active)
            recent.pool = (pool.id, pool.status == .active, poolSlot)
        }
        let dataCenter: Int32
        if let last = recent.dataCenter, last.id == machine.edgeDataCenterId {
            dataCenter = last.slot
        } else {
            dataCenter = dataCenterSlots.slot(machine.edgeDataCenterId)
            recent.dataCenter = (machine.edgeDataCenterId, dataCenter)
        }
        let gpuModel: Int32
        if let last = recent.gpuModel, last.raw == machine.gpuModel {
            gpuModel = last.slot
        } else {
            gpuModel = gpuModelSlots.slot(PlacementEngine.normalizedModel(machine.gpuModel ?? ""))
            recent.gpuModel = (machine.gpuModel, gpuModel)
        }
        let value = StaticClass(
            pool: poolSlot, dataCenter: dataCenter, gpuModel: gpuModel, status: machine.status,
            critical: machine.healthStatus == .critical, exclusive: machine.rentalMode == .exclusive,
            hasBridge: machine.integrationBridge != nil, hypervisor: machine.hypervisorType)
        let staticClass: Int32
        if let last = recent.staticClass, last.value == value {
            staticClass = last.slot
        } else {
            staticClass = classSlot(value)
            recent.staticClass = (value, staticClass)
        }
        let record = Record(
            heartbeat: machine.lastHeartbeat?.timeIntervalSinceReferenceDate ?? -.infinity,
            total: ClaimAmounts(cpuCores: machine.cpuCores, memoryGb: machine.memoryGb, storageGb: machine.storageGb,
                                gpuCount: machine.gpuCount ?? 0),
            used: ClaimAmounts(cpuCores: machine.allocatedCpuCores, memoryGb: machine.allocatedMemoryGb,
                               storageGb: machine.allocatedStorageGb, gpuCount: machine.allocatedGpuCount))
        if let location = slots[machine.id] {
            if location.group == staticClass {
                groups[Int(location.group)].records[Int(location.position)] = record
                return
            }
            remove(machine.id)
        }
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
        let record = groups[group].records[position]
        let used = record.used
        groups[group].records[position].set(
            total: record.total,
            used: ClaimAmounts(cpuCores: used.cpuCores + sign * amounts.cpuCores, memoryGb: used.memoryGb + sign * amounts.memoryGb,
                               storageGb: used.storageGb + sign * amounts.storageGb, gpuCount: used.gpuCount + sign * amounts.gpuCount))
    }

    /// Adds the pool or replaces what it knew of it (its status).
    public mutating func upsert(_ pool: ResourcePool) {
        _ = upsertPool(id: pool.id, active: pool.status == .active)
        recent.pool = nil
    }

    /// The free CPU cores of every machine, summed: one pass over the records (the scan ceiling `zedge-bench
    /// placement` compares the engine with).
    public func totalFreeCpu() -> Int {
        var sum = 0
        for group in groups {
            group.records.withUnsafeBufferPointer { records in
                for record in records { sum &+= Int(record.freeCpu) }
            }
        }
        return sum
    }

    /// The slot of a data center (nil when no machine is in it).
    func dataCenterSlotIfKnown(_ id: UUID) -> Int32? { dataCenterSlots.existing(id) }

    /// The pool's slot, if the index knows the pool.
    func poolSlotIfKnown(_ id: UUID) -> Int32? { poolSlots[id] }

    /// The slot of a normalised GPU model (nil when no machine has it).
    func gpuModelSlotIfKnown(_ model: String) -> Int32? { gpuModelSlots.existing(model) }

    /// The static classes, by slot (the same as `groups`).
    var classes: [StaticClass] { classSlots.values }

    func location(of machineId: UUID) -> Location? { slots[machineId] }

    private mutating func classSlot(_ staticClass: StaticClass) -> Int32 {
        let slot = classSlots.slot(staticClass)
        if Int(slot) == groups.count { groups.append(Group()) }
        return slot
    }

    private mutating func upsertPool(id: UUID, active: Bool) -> Int32 {
        if let slot = poolSlots[id] {
            pools[Int(slot)].active = active
            return slot
        }
        let slot = Int32(pools.count)
        pools.append((id, active))
        poolSlots[id] = slot
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

/// Values numbered in the order they were first seen: the index keeps a small number per record, not the value.
struct Slots<Value: Hashable & Sendable>: Sendable {
    private(set) var values: [Value] = []
    private var numbers: [Value: Int32] = [:]

    /// The value's number, given now if it has none.
    mutating func slot(_ value: Value) -> Int32 {
        if let number = numbers[value] { return number }
        let number = Int32(values.count)
        values.append(value)
        numbers[value] = number
        return number
    }

    /// The value's number, nil if it was never seen.
    func existing(_ value: Value) -> Int32? { numbers[value] }
}
