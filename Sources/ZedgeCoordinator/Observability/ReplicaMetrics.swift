import Foundation
import Prometheus
import Synchronization
import ZedgeCore

/// What this coordinator replica itself saw, as Prometheus counters and gauges: HTTP requests, agent heartbeats,
/// long-polls it holds, task retries and failures it recorded, placements it refused. Each replica counts its own
/// (sum them across replicas); the fleet-wide gauges from the database are `FleetGauges`'.
///
/// Every series a label can take from a closed set (task kinds, host kinds, refusal reasons) exists from the
/// start at zero, so `rate()` and alerts see the first increment.
public final class ReplicaMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let heartbeats: [EnrollmentKind: Counter]
    let longPolls: Gauge
    let connections: Gauge
    let retries: [TaskKind: Counter]
    let failures: [TaskKind: Counter]
    let cancels: [TaskKind: Counter]
    let refusals: [PlacementRefusal: Counter]
    let createStages: [InstanceCreateStage: DurationHistogram]
    let reconcilePasses: (full: Counter, incremental: Counter)
    let reconcileReads: Counter
    let lastReconcilePass: (full: ReconcilePassGauges, incremental: ReconcilePassGauges)
    /// The HTTP request series made so far, by route pattern, method and status: the registry's own lookup (label
    /// arrays built and compared, the status formatted) cost each request more than the count itself.
    private let requestSeries = Mutex<[RequestSeriesKey: RequestSeries]>([:])

    struct RequestSeriesKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    struct RequestSeries {
        var requests: Counter
        var duration: DurationHistogram
    }

    /// `zedge_reconcile_last_pass_*` for one kind of pass.
    struct ReconcilePassGauges {
        var started: Gauge
        var duration: Gauge
        var instancesRead: Gauge

        init(_ registry: PrometheusCollectorRegistry, kind: String) {
            let labels = [("kind", kind)]
            started = registry.makeGauge(
                name: "zedge_reconcile_last_pass_started_timestamp_seconds", labels: labels,
                help: "When the last reconciler pass of this kind on this replica began, in seconds since the Unix epoch.")
            duration = registry.makeGauge(
                name: "zedge_reconcile_last_pass_duration_seconds", labels: labels,
                help: "Wall time of the last reconciler pass of this kind on this replica, in seconds.")
            instancesRead = registry.makeGauge(
                name: "zedge_reconcile_last_pass_instances_read", labels: labels,
                help: "Settled instances the last reconciler pass of this kind on this replica read.")
        }
    }

    /// The latency buckets of `zedge_http_request_duration_seconds`, 1 ms to 5 s.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]
    static let requestsHelp = "HTTP requests this replica answered, by route pattern, method and status code."
    static let durationHelp = "Time this replica took to answer HTTP requests, by route pattern, method and status code."

    /// The buckets of `zedge_instance_create_stage_seconds`, 50 µs to 1 s.
    static let stageBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1),
    ]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        createStages = Dictionary(uniqueKeysWithValues: InstanceCreateStage.allCases.map { stage in
            (stage, registry.makeDurationHistogram(
                name: "zedge_instance_create_stage_seconds", labels: [("stage", stage.rawValue)], buckets: Self.stageBuckets,
                help: "Wall time of each stage of the instance creates this replica accepted, by stage."))
        })
        let passesHelp = "Reconciler passes this replica ran while it led, by kind: full (every settled instance read) or incremental (only what changed)."
        reconcilePasses = (
            registry.makeCounter(name: "zedge_reconcile_passes_total", labels: [("kind", "full")], help: passesHelp),
            registry.makeCounter(name: "zedge_reconcile_passes_total", labels: [("kind", "incremental")], help: passesHelp))
        reconcileReads = registry.makeCounter(
            name: "zedge_reconcile_instances_read_total",
            help: "Settled instances the reconciler's passes on this replica read to compare with their hosts' reports.")
        lastReconcilePass = (ReconcilePassGauges(registry, kind: "full"), ReconcilePassGauges(registry, kind: "incremental"))
        heartbeats = Dictionary(uniqueKeysWithValues: EnrollmentKind.allCases.map { kind in
            (kind, registry.makeCounter(name: "zedge_agent_heartbeats_total", labels: [("kind", kind.rawValue)],
                                        help: "Agent heartbeats this replica received, by host kind."))
        })
        longPolls = registry.makeGauge(name: "zedge_agent_long_polls_held",
                                       help: "Agent task long-polls this replica holds open now, waiting for work.")
        connections = registry.makeGauge(
            name: "zedge_http_connections_open",
            help: "HTTP/1 connections open on this replica now (agents' and API clients'; a console's leaves the count once it is upgraded to a WebSocket).")
        retries = Dictionary(uniqueKeysWithValues: TaskKind.allCases.map { kind in
            (kind, registry.makeCounter(
                name: "zedge_task_retries_total", labels: [("kind", kind.rawValue)],
                help: "Tasks this replica put back in the queue for another attempt after their lease ended (ran out, or the agent restarted), by task kind."))
        })
        failures = Dictionary(uniqueKeysWithValues: TaskKind.allCases.map { kind in
            (kind, registry.makeCounter(
                name: "zedge_task_failures_total", labels: [("kind", kind.rawValue)],
                help: "Tasks this replica recorded as FAILED (the agent's result, or a last attempt whose lease ended), by task kind."))
        })
        cancels = Dictionary(uniqueKeysWithValues: TaskKind.allCases.map { kind in
            (kind, registry.makeCounter(
                name: "zedge_task_cancels_total", labels: [("kind", kind.rawValue)],
                help: "Queued tasks this replica cancelled before an agent took them (an operation's cancel), by task kind."))
        })
        refusals = Dictionary(uniqueKeysWithValues: PlacementRefusal.all.map { refusal in
            (refusal, registry.makeCounter(
                name: "zedge_placement_refusals_total", labels: [("reason", refusal.label)],
                help: "Instance placements this replica refused (409 No capacity), by the reason that turned away the most machines."))
        })
    }

    /// Counts one answered request and records how long it took.
    public func requestAnswered(route: String, method: String, status: Int, duration: Duration) {
        let key = RequestSeriesKey(route: route, method: method, status: status)
        let series = requestSeries.withLock { $0[key] } ?? {
            // Made outside the lock (the registry takes its own); two requests that race here get the same series.
            let labels = [("route", route), ("method", method), ("status", String(status))]
            let made = RequestSeries(
                requests: registry.makeCounter(name: "zedge_http_requests_total", labels: labels, help: Self.requestsHelp),
                duration: registry.makeDurationHistogram(name: "zedge_http_request_duration_seconds", labels: labels,
                                                         buckets: Self.durationBuckets, help: Self.durationHelp))
            requestSeries.withLock { $0[key] = made }
            return made
        }()
        series.requests.increment()
        series.duration.record(duration)
    }

    /// Counts a heartbeat from a compute machine's or a CloudBox's agent.
    public func heartbeatReceived(from kind: EnrollmentKind) {
        heartbeats[kind]?.increment()
    }

    /// Counts a long-poll as held while `body` runs.
    public func holdingLongPoll<T>(_ body: () async throws -> T) async rethrows -> T {
        longPolls.increment()
        defer { longPolls.decrement() }
        return try await body()
    }

    /// Counts an HTTP/1 connection opened (`ClientConnections`).
    public func connectionOpened() { connections.increment() }

    /// Counts an HTTP/1 connection ended, or upgraded to a WebSocket (`ClientConnections`).
    public func connectionEnded() { connections.decrement() }

    /// Counts a task put back in the queue for another attempt.
    public func taskRetried(_ kind: TaskKind) { retries[kind]?.increment() }

    /// Counts a task that ended FAILED.
    public func taskFailed(_ kind: TaskKind) { failures[kind]?.increment() }

    /// Counts a queued task that was cancelled.
    public func taskCancelled(_ kind: TaskKind) { cancels[kind]?.increment() }

    /// Counts a refused placement.
    public func placementRefused(_ refusal: PlacementRefusal) { refusals[refusal]?.increment() }

    /// Records the wall time of one stage of an instance create.
    public func instanceCreate(_ stage: InstanceCreateStage, took duration: Duration) { createStages[stage]?.record(duration) }

    /// Counts a reconciler pass and the settled instances it read, and records it as the last of its kind: when it
    /// began (wall clock) and how long it took.
    public func reconciled(full: Bool, instancesRead: Int, began: Date, duration: Duration) {
        (full ? reconcilePasses.full : reconcilePasses.incremental).increment()
        reconcileReads.increment(by: Int64(instancesRead))
        let last = full ? lastReconcilePass.full : lastReconcilePass.incremental
        last.started.set(began.timeIntervalSince1970)
        last.duration.set(duration.seconds)
        last.instancesRead.set(Int64(instancesRead))
    }
}
