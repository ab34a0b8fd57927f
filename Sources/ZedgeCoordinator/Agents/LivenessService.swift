import Foundation
import Logging
import ServiceLifecycle
import SQLKit
import ZedgeCore

/// The one background loop behind heartbeats: every second it writes what the tracker collected (last
/// heartbeat, health, CloudBox readings, sampled metrics) in one transaction; every heartbeat interval it
/// marks silent hosts OFFLINE and returning ones ACTIVE/ONLINE, and audits each change; hourly it prunes old
/// metric samples.
public struct LivenessService: Service {
    let store: Store
    let tracker: LivenessTracker
    let thresholds: HealthThresholds
    let heartbeatInterval: TimeInterval
    let missedBeforeOffline: Int
    let metricRetention: TimeInterval
    let flushInterval: Duration
    /// Every replica flushes its own heartbeats; only the leader marks hosts OFFLINE and prunes.
    let leadership: Leadership
    let logger: Logger
    /// Machines written per UPDATE statement by a flush.
    let machineBatch = 200

    public init(
        store: Store, tracker: LivenessTracker, thresholds: HealthThresholds = .init(), heartbeatInterval: TimeInterval,
        missedBeforeOffline: Int, metricRetention: TimeInterval = 6 * 3600, flushInterval: Duration = .seconds(1),
        leadership: Leadership = Leadership(leading: true), logger: Logger
    ) {
        self.leadership = leadership
        self.store = store
        self.tracker = tracker
        self.thresholds = thresholds
        self.heartbeatInterval = heartbeatInterval
        self.missedBeforeOffline = missedBeforeOffline
        self.metricRetention = metricRetention
        self.flushInterval = flushInterval
        self.logger = logger
    }

    var offlineAfter: TimeInterval { heartbeatInterval * Double(missedBeforeOffline) }

    public func run() async throws {
        var lastCheck = Date.distantPast
        var lastPrune = Date()
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: flushInterval) }
            } catch {
                break
            }
            let now = Date()
            await step(now: now, checkLiveness: now.timeIntervalSince(lastCheck) >= min(heartbeatInterval, 5),
                       prune: now.timeIntervalSince(lastPrune) >= 3600)
            if now.timeIntervalSince(lastCheck) >= min(heartbeatInterval, 5) { lastCheck = now }
            if now.timeIntervalSince(lastPrune) >= 3600 { lastPrune = now }
        }
        await step(now: Date(), checkLiveness: false, prune: false)  // what arrived before shutdown
    }

    /// One pass; failures are logged and retried on the next pass.
    func step(now: Date, checkLiveness: Bool, prune: Bool) async {
        do {
            try await flush()
            if checkLiveness, leadership.isLeader { try await checkTransitions(now: now) }
            if prune, leadership.isLeader {
                try await store.database.sql.delete(from: "metric_samples")
                    .where("recorded_at", .lessThan, now.addingTimeInterval(-metricRetention)).run()
            }
        } catch {
            logger.error("liveness pass failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Writes every host that heartbeated since the last flush, in one transaction; a heartbeat brings an
    /// OFFLINE machine back ACTIVE and an INITIALIZING or OFFLINE CloudBox ONLINE (audited).
    ///
    /// Machines are written a batch at a time (`machineBatch` per statement: each row its own last heartbeat
    /// and health), and metric samples in multi-row inserts, so that a flush of thousands of heartbeats is a
    /// few statements rather than two per heartbeat: it holds SQLite's one connection for milliseconds.
    func flush() async throws {
        let (beats, samples) = tracker.drain()
        guard !beats.isEmpty || !samples.isEmpty else { return }
        let thresholds = self.thresholds, machineBatch = self.machineBatch, engine = store.database.engine
        let returned: [(action: String, host: UUID, at: Date)]
        do {
            returned = try await store.database.transaction { db in
                var returned: [(action: String, host: UUID, at: Date)] = []
                let machines = beats.filter { $0.kind == .computeMachine }
                for start in stride(from: 0, to: machines.count, by: machineBatch) {
                    let batch = Array(machines[start..<min(start + machineBatch, machines.count)])
                    try await Self.writeMachines(batch, thresholds: thresholds, on: db)
                    let at = Dictionary(batch.map { ($0.host, $0.at) }, uniquingKeysWith: { $1 })
                    let back = try await db.update("compute_machines").set("status", to: ComputeMachineStatus.active.rawValue)
                        .where("id", .in, batch.map(\.host)).where("status", .equal, ComputeMachineStatus.offline.rawValue)
                        .returning("id").all()
                    for row in back {
                        let host = try row.decode(column: "id", as: UUID.self)
                        returned.append(("compute-machine.online", host, at[host] ?? Date()))
                    }
                }
                for beat in beats where beat.kind == .cloudBox {
                    let m = beat.metrics
                    try await db.update("cloud_boxes")
                        .set("last_heartbeat", to: beat.at)
                        .set("cpu_usage_percent", to: m.cpuUsagePercent).set("memory_usage_percent", to: m.memoryUsagePercent)
                        .set("disk_usage_percent", to: m.diskUsagePercent).set("temperature", to: m.temperature)
                        .set("uptime_seconds", to: m.uptimeSeconds)
                        .where("id", .equal, beat.host).run()
                    let back = try await db.update("cloud_boxes").set("status", to: CloudBoxStatus.online.rawValue)
                        .where("id", .equal, beat.host)
                        .where("status", .in, [CloudBoxStatus.offline.rawValue, CloudBoxStatus.initializing.rawValue])
                        .returning("id").all()
                    if !back.isEmpty { returned.append(("cloud-box.online", beat.host, beat.at)) }
                }
                // Several replicas: the leader's reconciler needs the VMs every host reported, wherever it landed.
                if engine == .postgres {
                    for beat in beats where beat.kind == .computeMachine {
                        let vms = try RowCodec.bind(beat.observedVms)
                        try await db.raw("""
                            INSERT INTO host_observations (id, observed_at, observed_vms) VALUES (\(bind: beat.host), \(bind: beat.at), \(vms))
                            ON CONFLICT (id) DO UPDATE SET observed_at = EXCLUDED.observed_at, observed_vms = EXCLUDED.observed_vms
                            WHERE host_observations.observed_at < EXCLUDED.observed_at
                            """).run()
                    }
                }
                try await Table<MetricSample>("metric_samples", resource: "metric sample").insert(samples, on: db)
                return returned
            }
        } catch {
            tracker.restore(beats, samples: samples)
            throw error
        }
        for change in returned { try await audit(change.action, host: change.host, last: change.at) }
    }

    /// `UPDATE compute_machines SET last_heartbeat = CASE id WHEN … END, health_status = CASE id WHEN … END
    /// WHERE id IN (…)`: one statement for a batch of machines, each row getting its own values.
    static func writeMachines(_ beats: [LivenessTracker.Beat], thresholds: HealthThresholds, on db: any SQLDatabase) async throws {
        guard !beats.isEmpty else { return }
        var query: SQLQueryString = "UPDATE compute_machines SET last_heartbeat = CASE id"
        for beat in beats { query += " WHEN \(bind: beat.host) THEN \(bind: beat.at)" }
        query += " END, health_status = CASE id"
        for beat in beats { query += " WHEN \(bind: beat.host) THEN \(bind: thresholds.assess(beat.metrics).rawValue)" }
        query += " END WHERE id IN (\(binds: beats.map(\.host)))"
        try await db.raw(query).run()
    }

    /// Marks silent hosts OFFLINE (by `HostLiveness`) and audits each change; coming back is the flush's.
    ///
    /// Only the hosts that may have gone silent are read: those in the status that can go OFFLINE whose
    /// stored last heartbeat is at least `offlineAfter` old, or missing. The tracker's latest beat is never
    /// older than the stored one (the flush writes from it), so no host that `HostLiveness` would take
    /// OFFLINE is left out; each candidate is then judged by `HostLiveness` exactly as before.
    func checkTransitions(now: Date) async throws {
        let cutoff = now.addingTimeInterval(-offlineAfter)
        func candidates<Model: Decodable>(_ table: String, status: String, as type: Model.Type) async throws -> [Model] {
            try await store.database.sql.select().column("*").from(table)
                .where("status", .equal, status)
                .where(group: { $0.where("last_heartbeat", .lessThanOrEqual, cutoff).orWhere("last_heartbeat", .is, SQLLiteral.null) })
                .orderBy("id")
                .all().map { try RowCodec.decode(type, from: $0) }
        }
        let machines = try await candidates("compute_machines", status: ComputeMachineStatus.active.rawValue, as: ComputeMachine.self)
        for machine in machines {
            let last = Self.latest(tracker.latest(machine.id)?.at, machine.lastHeartbeat)
            guard let next = HostLiveness.machineTransition(status: machine.status, lastHeartbeat: last, now: now, timeout: offlineAfter),
                  next == .offline else { continue }
            // Conditional: an operator's change in between wins.
            let rows = try await store.database.sql.update("compute_machines").set("status", to: next.rawValue).set("updated_at", to: now)
                .where("id", .equal, machine.id).where("status", .equal, machine.status.rawValue).returning("id").all()
            guard rows.count == 1 else { continue }
            try await audit("compute-machine.offline", host: machine.id, last: last)
        }
        let boxes = try await candidates("cloud_boxes", status: CloudBoxStatus.online.rawValue, as: CloudBox.self)
        for box in boxes {
            let last = Self.latest(tracker.latest(box.id)?.at, box.lastHeartbeat)
            guard let next = HostLiveness.cloudBoxTransition(status: box.status, lastHeartbeat: last, now: now, timeout: offlineAfter),
                  next == .offline else { continue }
            let rows = try await store.database.sql.update("cloud_boxes").set("status", to: next.rawValue).set("updated_at", to: now)
                .where("id", .equal, box.id).where("status", .equal, box.status.rawValue).returning("id").all()
            guard rows.count == 1 else { continue }
            try await audit("cloud-box.offline", host: box.id, last: last)
        }
    }

    /// The later of this replica's own record and the database's (other replicas' heartbeats land there).
    static func latest(_ a: Date?, _ b: Date?) -> Date? {
        switch (a, b) {
        case let (a?, b?): max(a, b)
        default: a ?? b
        }
    }

    func audit(_ action: String, host: UUID, last: Date?) async throws {
        logger.notice("\(action)", metadata: ["host": "\(host)"])
        try await store.auditLogs.append(AuditLog(
            userId: nil, action: action, resourceType: ResourceType.server.rawValue, resourceId: host,
            details: ["lastHeartbeat": last.map { .string(ZedgeJSON.formatDate($0)) } ?? .null, "by": "liveness"],
            status: .success))
    }
}
