import Foundation
import Logging
import Prometheus
import ZedgeCore

/// The fleet-wide gauges of `/metrics`, mirrored from the database: hosts by kind, status and health;
/// instances by status; queued and leased tasks by kind and the age of the oldest queued one; each COMPUTE
/// pool's capacity against what is allocated.
///
/// Computed at scrape time, not by a `Service` loop: nothing reads the database while nobody scrapes, any
/// replica answers without being the leader, and what a scrape shows is at most `maxAge` old. The census
/// (`FleetCensusRepository`: three aggregate queries) is cached for `maxAge`, and scrapes that arrive while one
/// is being read wait for it rather than start their own, so a scrape storm costs one census per `maxAge` per
/// replica. A census that fails is logged and counted (`zedge_fleet_census_failures_total`); the gauges keep
/// their last values, and the next read is tried once `maxAge` has passed.
///
/// Every replica reads the same database, so each reports the same fleet-wide values: aggregate them across
/// replicas with `max`, not `sum`.
public actor FleetGauges {
    let census: any FleetCensusRepository
    let registry: PrometheusCollectorRegistry
    let maxAge: Duration
    let logger: Logger
    let failures: Counter
    let lastSuccess: Gauge

    private var readAt: ContinuousClock.Instant?
    private var reading = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// The pool series written last time, so that a removed pool's series go away.
    private var poolSeries: [UUID: [Gauge]] = [:]

    /// Bytes in one GiB (the pools keep memory and storage in GiB).
    static let gib: Double = 1_073_741_824
    /// Labels of a CloudBox's `health` (they have none).
    static let noHealth = "NONE"

    public init(census: any FleetCensusRepository, registry: PrometheusCollectorRegistry, maxAge: Duration = .seconds(5), logger: Logger) {
        self.census = census
        self.registry = registry
        self.maxAge = maxAge
        self.logger = logger
        failures = registry.makeCounter(
            name: "zedge_fleet_census_failures_total",
            help: "Reads of the fleet gauges from the database that failed on this replica (the gauges keep their last values).")
        lastSuccess = registry.makeGauge(
            name: "zedge_fleet_census_timestamp_seconds",
            help: "When this replica last read the fleet gauges from the database, in seconds since the Unix epoch.")
    }

    /// Reads the census again if the last one is older than `maxAge` (or waits for the read under way), and
    /// writes it into the gauges.
    public func refreshIfStale() async {
        if let readAt, ContinuousClock.now - readAt < maxAge { return }
        if reading {
            await withCheckedContinuation { waiting.append($0) }
            return
        }
        reading = true
        do {
            let now = Date()
            apply(try await census.census(), now: now)
            lastSuccess.set(now.timeIntervalSince1970)
        } catch {
            failures.increment()
            logger.warning("reading the fleet gauges failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        readAt = .now
        reading = false
        let woken = waiting
        waiting = []
        for continuation in woken { continuation.resume() }
    }

    /// Writes every series: each combination of the closed label sets (zero where the census has none), and
    /// one set per COMPUTE pool.
    func apply(_ c: FleetCensus, now: Date) {
        for status in ComputeMachineStatus.allCases {
            for health in HealthStatus.allCases {
                hosts(EnrollmentKind.computeMachine, status.rawValue, health.rawValue).set(Double(c.machines[.init(status, health)] ?? 0))
            }
        }
        for status in CloudBoxStatus.allCases {
            hosts(EnrollmentKind.cloudBox, status.rawValue, Self.noHealth).set(Double(c.cloudBoxes[status] ?? 0))
        }
        for status in InstanceStatus.allCases where status != .deleted {
            registry.makeGauge(name: "zedge_instances", labels: [("status", status.rawValue)],
                               help: "Instances by status, fleet-wide from the database (DELETED ones are not counted).")
                .set(Double(c.instances[status] ?? 0))
        }
        for kind in TaskKind.allCases {
            registry.makeGauge(name: "zedge_tasks_queued", labels: [("kind", kind.rawValue)],
                               help: "Agent tasks QUEUED (waiting for their agent to lease them), by kind, fleet-wide from the database.")
                .set(Double(c.queuedTasks[kind] ?? 0))
            registry.makeGauge(name: "zedge_tasks_leased", labels: [("kind", kind.rawValue)],
                               help: "Agent tasks LEASED (handed to their agent, not finished), by kind, fleet-wide from the database.")
                .set(Double(c.leasedTasks[kind] ?? 0))
        }
        registry.makeGauge(name: "zedge_tasks_oldest_queued_age_seconds",
                           help: "Seconds since the oldest QUEUED agent task was created (0 when none is queued), fleet-wide from the database.")
            .set(c.oldestQueuedTaskCreatedAt.map { max(0, now.timeIntervalSince($0)) } ?? 0)

        var written: [UUID: [Gauge]] = [:]
        for pool in c.pools {
            let labels = [("pool_id", pool.id.uuidString.lowercased()), ("pool", pool.name), ("data_center", pool.dataCenter)]
            func gauge(_ name: String, _ help: String, _ value: Double) -> Gauge {
                let gauge = registry.makeGauge(name: name, labels: labels, help: help)
                gauge.set(value)
                return gauge
            }
            written[pool.id] = [
                gauge("zedge_pool_capacity_vcpus", "CPU cores of a COMPUTE pool's machines, from the database.", Double(pool.total.cpuCores)),
                gauge("zedge_pool_allocated_vcpus", "CPU cores of a COMPUTE pool that live instances hold, from the database.",
                      Double(pool.allocated.cpuCores)),
                gauge("zedge_pool_capacity_memory_bytes", "Memory of a COMPUTE pool's machines in bytes, from the database.",
                      Double(pool.total.memoryGb) * Self.gib),
                gauge("zedge_pool_allocated_memory_bytes", "Memory of a COMPUTE pool that live instances hold, in bytes, from the database.",
                      Double(pool.allocated.memoryGb) * Self.gib),
                gauge("zedge_pool_capacity_storage_bytes", "Storage of a COMPUTE pool's machines in bytes, from the database.",
                      Double(pool.total.storageGb) * Self.gib),
                gauge("zedge_pool_allocated_storage_bytes", "Storage of a COMPUTE pool that live instances hold, in bytes, from the database.",
                      Double(pool.allocated.storageGb) * Self.gib),
                gauge("zedge_pool_capacity_gpus", "GPUs of a COMPUTE pool's machines, from the database.", Double(pool.total.gpuCount)),
                gauge("zedge_pool_allocated_gpus", "GPUs of a COMPUTE pool that live instances hold, from the database.",
                      Double(pool.allocated.gpuCount)),
            ]
        }
        // A pool removed, or renamed (its labels changed): its old series go.
        for (id, gauges) in poolSeries {
            let kept = Set((written[id] ?? []).map(ObjectIdentifier.init))
            for gauge in gauges where !kept.contains(ObjectIdentifier(gauge)) { registry.unregisterGauge(gauge) }
        }
        poolSeries = written
    }

    func hosts(_ kind: EnrollmentKind, _ status: String, _ health: String) -> Gauge {
        registry.makeGauge(
            name: "zedge_hosts", labels: [("kind", kind.rawValue), ("status", status), ("health", health)],
            help: "Hosts by kind (COMPUTE_MACHINE, CLOUD_BOX), status and health (NONE for CloudBoxes, which have none), fleet-wide from the database.")
    }
}
