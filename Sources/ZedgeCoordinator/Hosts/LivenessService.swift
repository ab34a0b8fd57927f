import Foundation
import Logging
import Synchronization
import ZedgeCore

/// What runs behind heartbeats, once a second on every replica (a `LeaderLoop` with no leadership): it
/// writes what the tracker collected (last heartbeat, health, CloudBox readings, sampled metrics) in
/// transactions of `hostsPerTransaction` hosts; and, on the leader only, every heartbeat interval it marks
/// silent hosts OFFLINE (returning ones come back with the flush), auditing each change, and hourly it prunes
/// old metric samples.
public struct LivenessService: Sendable {
    let hosts: any HostRepository
    let cachedImages: (any CachedImageRepository)?
    let metricSamples: any TimeSeriesRepository<MetricSample>
    let auditLogs: any TimeSeriesRepository<AuditLog>
    let tracker: LivenessTracker
    let heartbeatInterval: TimeInterval
    let missedBeforeOffline: Int
    let metricRetention: TimeInterval
    let leadership: Leadership
    let logger: Logger
    /// Hosts (and metric samples) a flush writes per transaction. One transaction for a second's heartbeats held
    /// SQLite's writer for all of them (~9 ms for 1,000 hosts on 2 cores; ~25 ms at 30,000 agents), and a request's
    /// write that came meanwhile (a task's enqueue) waited that long; in chunks it waits for one chunk at most, as the
    /// writer goes to waiting transactions in turn (`WriterLock`). At 10,000 agents the wake's p99 did not move with
    /// it (bench-results, session 39): the bound is kept for larger fleets, not for a measured gain.
    let hostsPerTransaction: Int
    private let schedule = Schedule()

    /// When the leader-only passes last ran, the cached-image sets this replica last wrote per machine (only
    /// changes are written), and the integration bridge it last knew stored per machine, with when.
    final class Schedule: Sendable {
        let last = Mutex<(check: Date, prune: Date)>((.distantPast, Date()))
        let writtenImages = Mutex<[UUID: Set<String>]>([:])
        let knownBridges = Mutex<[UUID: (bridge: String?, at: Date)]>([:])
    }

    /// How long this replica trusts what it knows is stored as a machine's integration bridge before it compares
    /// with the database again (another replica, or a new enrollment, may have written it since).
    static let bridgeRecheck: TimeInterval = 300

    public init(
        hosts: any HostRepository, cachedImages: (any CachedImageRepository)? = nil, metricSamples: any TimeSeriesRepository<MetricSample>, auditLogs: any TimeSeriesRepository<AuditLog>,
        tracker: LivenessTracker, heartbeatInterval: TimeInterval,
        missedBeforeOffline: Int, metricRetention: TimeInterval = 6 * 3600, leadership: Leadership = Leadership(leading: true),
        hostsPerTransaction: Int = 200, logger: Logger
    ) {
        precondition(hostsPerTransaction > 0, "a flush writes at least one host per transaction")
        self.hosts = hosts
        self.cachedImages = cachedImages
        self.metricSamples = metricSamples
        self.auditLogs = auditLogs
        self.tracker = tracker
        self.heartbeatInterval = heartbeatInterval
        self.missedBeforeOffline = missedBeforeOffline
        self.metricRetention = metricRetention
        self.leadership = leadership
        self.hostsPerTransaction = hostsPerTransaction
        self.logger = logger
    }

    var offlineAfter: TimeInterval { heartbeatInterval * Double(missedBeforeOffline) }

    /// One pass: the flush always; the liveness check every `min(heartbeatInterval, 5)` s and the prune hourly,
    /// on the leader.
    public func tick(now: Date) async throws {
        let (check, prune) = schedule.last.withLock { last -> (Bool, Bool) in
            let check = now.timeIntervalSince(last.check) >= min(heartbeatInterval, 5)
            let prune = now.timeIntervalSince(last.prune) >= 3600
            if check { last.check = now }
            if prune { last.prune = now }
            return (check, prune)
        }
        try await flush()
        if check, leadership.isLeader { try await checkTransitions(now: now) }
        if prune, leadership.isLeader { try await metricSamples.prune(before: now.addingTimeInterval(-metricRetention)) }
    }

    /// Writes every host that heartbeated since the last flush, `hostsPerTransaction` hosts and samples per
    /// transaction; a heartbeat brings an OFFLINE machine back ACTIVE and an INITIALIZING or OFFLINE CloudBox ONLINE
    /// (audited). A failed write puts the chunk that failed and every one after it back into the tracker (the
    /// chunks before it are written, and their returns audited) and throws. Hosts go in the order of their ids.
    public func flush() async throws {
        let (drained, samples) = tracker.drain()
        let beats = drained.sorted { $0.host < $1.host }
        guard !beats.isEmpty || !samples.isEmpty else { return }
        var returned: [HostReturned] = []
        var failure: (any Error)?
        /// `array`'s elements from `start` up to `end` (nil: to its end), as far as it reaches.
        func part<T>(_ array: [T], from start: Int, to end: Int? = nil) -> [T] {
            Array(array[min(start, array.count)..<min(end ?? array.count, array.count)])
        }
        for start in stride(from: 0, to: max(beats.count, samples.count), by: hostsPerTransaction) {
            let end = start + hostsPerTransaction
            let records = part(beats, from: start, to: end).map { beat in
                HeartbeatRecord(id: beat.host, at: beat.at, host: beat.kind == .computeMachine
                    ? .computeMachine(health: beat.health, observedVms: beat.observedVms)
                    : .cloudBox(beat.metrics))
            }
            do {
                returned += try await hosts.recordHeartbeats(records, samples: part(samples, from: start, to: end))
            } catch {
                tracker.restore(part(beats, from: start), samples: part(samples, from: start))
                failure = error
                break
            }
        }
        for change in returned { try await audit(change.action, host: change.host, last: change.at) }
        if let failure { throw failure }
        try await writeCachedImages(beats)
        try await writeIntegrationBridges(beats, now: Date())
    }

    /// Stores the integration bridge machines reported (`connectionConfig["integrationBridge"]`) where it differs
    /// from the stored one. Only reports that differ from what this replica knows is stored, or whose knowledge is
    /// older than `bridgeRecheck`, go to the database, which compares and writes only changes; so a steady
    /// fleet costs no write and a batched read per machine every few minutes. A failure is retried with the next
    /// heartbeat.
    func writeIntegrationBridges(_ beats: [LivenessTracker.Beat], now: Date) async throws {
        let reported = Dictionary(beats.compactMap { beat in
            beat.kind == .computeMachine ? (beat.host, beat.integrationBridge) : nil
        }, uniquingKeysWith: { $1 })
        let toSync = schedule.knownBridges.withLock { known in
            reported.filter { host, bridge in
                guard let k = known[host] else { return true }
                return k.bridge != bridge || now.timeIntervalSince(k.at) >= Self.bridgeRecheck
            }
        }
        guard !toSync.isEmpty else { return }
        let changed = try await hosts.syncIntegrationBridges(toSync, now: now)
        for host in changed {
            logger.notice("compute-machine.integration-bridge", metadata: ["host": "\(host)", "bridge": "\(toSync[host].flatMap { $0 } ?? "none")"])
        }
        schedule.knownBridges.withLock { known in
            for (host, bridge) in toSync { known[host] = (bridge, now) }
        }
    }

    /// Writes the cached-image sets that changed since this replica last wrote them (a restart writes each
    /// once again). A failure is retried with the next heartbeat.
    func writeCachedImages(_ beats: [LivenessTracker.Beat]) async throws {
        guard let cachedImages else { return }
        let reported = Dictionary(beats.compactMap { beat in
            beat.kind == .computeMachine ? beat.cachedImages.map { (beat.host, Set($0)) } : nil
        }, uniquingKeysWith: { $1 })
        let changed = schedule.writtenImages.withLock { written in reported.filter { written[$0.key] != $0.value } }
        guard !changed.isEmpty else { return }
        try await cachedImages.replace(changed, at: Date())
        schedule.writtenImages.withLock { written in written.merge(changed) { $1 } }
    }

    /// Marks silent hosts OFFLINE (by `HostLiveness`) and audits each change; coming back is the flush's.
    ///
    /// Only the hosts that may have gone silent are read: those that can go OFFLINE whose stored last
    /// heartbeat is at least `offlineAfter` old, or missing. The tracker's latest beat is never older than the
    /// stored one (the flush writes from it), so no host that `HostLiveness` would take OFFLINE is left out.
    func checkTransitions(now: Date) async throws {
        let cutoff = now.addingTimeInterval(-offlineAfter)
        for machine in try await hosts.machinesPossiblySilent(cutoff: cutoff) {
            let last = Self.latest(tracker.latest(machine.id)?.at, machine.lastHeartbeat)
            guard let next = HostLiveness.machineTransition(status: machine.status, lastHeartbeat: last, now: now, timeout: offlineAfter),
                  next == .offline else { continue }
            // Conditional: an operator's change in between wins.
            guard try await hosts.setStatus(machine: machine.id, to: next, expecting: machine.status, now: now) else { continue }
            try await audit("compute-machine.offline", host: machine.id, last: last)
        }
        for box in try await hosts.cloudBoxesPossiblySilent(cutoff: cutoff) {
            let last = Self.latest(tracker.latest(box.id)?.at, box.lastHeartbeat)
            guard let next = HostLiveness.cloudBoxTransition(status: box.status, lastHeartbeat: last, now: now, timeout: offlineAfter),
                  next == .offline else { continue }
            guard try await hosts.setStatus(cloudBox: box.id, to: next, expecting: box.status, now: now) else { continue }
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
        try await auditLogs.append(AuditLog(
            userId: nil, action: action, resourceType: ResourceType.server.rawValue, resourceId: host,
            details: ["lastHeartbeat": last.map { .string(ZedgeJSON.formatDate($0)) } ?? .null, "by": "liveness"],
            status: .success))
    }
}
