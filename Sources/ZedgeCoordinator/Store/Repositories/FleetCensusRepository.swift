import Foundation
import SQLKit
import ZedgeCore

/// The fleet as `/metrics` reports it: counts of hosts, instances and open tasks, and each COMPUTE pool's
/// capacity, read from the database in three aggregate queries (never one per row).
public protocol FleetCensusRepository: Sendable {
    /// The counts as the database holds them now; `FleetCensus` says what each one covers.
    func census() async throws -> FleetCensus
}

/// What the database holds about the fleet, counted. Absent keys count zero.
public struct FleetCensus: Sendable, Hashable {
    /// A compute machine's status and health, the key its count is kept under.
    public struct MachineState: Sendable, Hashable {
        public var status: ComputeMachineStatus
        public var health: HealthStatus

        public init(_ status: ComputeMachineStatus, _ health: HealthStatus) {
            self.status = status
            self.health = health
        }
    }

    /// One COMPUTE pool's totals (the sums of its machines' sizes) and what live claims hold of them. CPU in
    /// cores, memory and storage in GiB, as the pool's row keeps them.
    public struct PoolCapacity: Sendable, Hashable {
        public var id: UUID
        public var name: String
        /// The name of the pool's edge data center.
        public var dataCenter: String
        public var total: ClaimAmounts
        public var allocated: ClaimAmounts
    }

    /// Compute machines by status and health.
    public var machines: [MachineState: Int] = [:]
    /// CloudBoxes by status (they have no health).
    public var cloudBoxes: [CloudBoxStatus: Int] = [:]
    /// Instances by status, without DELETED ones (soft-deleted rows kept as history).
    public var instances: [InstanceStatus: Int] = [:]
    /// QUEUED tasks by kind.
    public var queuedTasks: [TaskKind: Int] = [:]
    /// LEASED tasks by kind.
    public var leasedTasks: [TaskKind: Int] = [:]
    /// When the oldest QUEUED task was created; nil when none is queued.
    public var oldestQueuedTaskCreatedAt: Date?
    /// Every COMPUTE pool, by name.
    public var pools: [PoolCapacity] = []

    public init() {}
}

public struct SQLFleetCensusRepository: FleetCensusRepository {
    let database: Database

    public init(database: Database) { self.database = database }

    public func census() async throws -> FleetCensus {
        let db = database.sql
        var census = FleetCensus()

        // 1. Hosts and instances, grouped by the columns their labels come from, in one statement.
        let states = try await db.raw("""
            SELECT 'm' AS what, status, health_status AS health, COUNT(*) AS n FROM compute_machines GROUP BY status, health_status
            UNION ALL SELECT 'b' AS what, status, '' AS health, COUNT(*) AS n FROM cloud_boxes GROUP BY status
            UNION ALL SELECT 'i' AS what, status, '' AS health, COUNT(*) AS n FROM instances WHERE status <> 'DELETED' GROUP BY status
            """).all()
        for row in states {
            let status = try row.decode(column: "status", as: String.self)
            let n = try row.decode(column: "n", as: Int.self)
            switch try row.decode(column: "what", as: String.self) {
            case "m":
                guard let s = ComputeMachineStatus(rawValue: status),
                      let h = HealthStatus(rawValue: try row.decode(column: "health", as: String.self)) else { continue }
                census.machines[.init(s, h), default: 0] += n
            case "b":
                guard let s = CloudBoxStatus(rawValue: status) else { continue }
                census.cloudBoxes[s, default: 0] += n
            default:
                guard let s = InstanceStatus(rawValue: status) else { continue }
                census.instances[s, default: 0] += n
            }
        }

        // 2. Open tasks by kind and status (the `status` index narrows it to them), with the oldest queued one.
        let tasks = try await db.raw("""
            SELECT kind, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM agent_tasks
            WHERE status IN ('QUEUED', 'LEASED') GROUP BY kind, status
            """).all()
        for row in tasks {
            guard let kind = TaskKind(rawValue: try row.decode(column: "kind", as: String.self)) else { continue }
            let n = try row.decode(column: "n", as: Int.self)
            if try row.decode(column: "status", as: String.self) == TaskStatus.queued.rawValue {
                census.queuedTasks[kind, default: 0] += n
                let oldest = try row.decode(column: "oldest", as: Date.self)
                census.oldestQueuedTaskCreatedAt = min(census.oldestQueuedTaskCreatedAt ?? oldest, oldest)
            } else {
                census.leasedTasks[kind, default: 0] += n
            }
        }

        // 3. COMPUTE pools' totals and allocations, as their rows keep them.
        let pools = try await db.raw("""
            SELECT p.id, p.name, d.name AS data_center,
                p.total_cpu_cores, p.total_memory_gb, p.total_storage_gb, p.total_gpu_count,
                p.allocated_cpu_cores, p.allocated_memory_gb, p.allocated_storage_gb, p.allocated_gpu_count
            FROM resource_pools p JOIN edge_data_centers d ON d.id = p.edge_data_center_id
            WHERE p.pool_type = 'COMPUTE' ORDER BY p.name, p.id
            """).all()
        census.pools = try pools.map { row in
            func amounts(_ prefix: String) throws -> ClaimAmounts {
                ClaimAmounts(cpuCores: try row.decode(column: prefix + "cpu_cores", as: Int.self),
                             memoryGb: try row.decode(column: prefix + "memory_gb", as: Int.self),
                             storageGb: try row.decode(column: prefix + "storage_gb", as: Int.self),
                             gpuCount: try row.decode(column: prefix + "gpu_count", as: Int.self))
            }
            return FleetCensus.PoolCapacity(
                id: try row.decode(column: "id", as: UUID.self), name: try row.decode(column: "name", as: String.self),
                dataCenter: try row.decode(column: "data_center", as: String.self),
                total: try amounts("total_"), allocated: try amounts("allocated_"))
        }
        return census
    }
}
