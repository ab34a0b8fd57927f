import Foundation
import Synchronization
import ZedgeCore

/// Which kind of host an agent speaks for.
public enum HostKind: Sendable, Hashable {
    case computeMachine
    case cloudBox
}

/// The latest heartbeat of every host, in memory. Recording one is a dictionary write under a lock, never
/// a database write; `LivenessService` drains what changed and writes it in batches.
public final class LivenessTracker: Sendable {
    public struct Beat: Sendable {
        public var host: UUID
        public var kind: HostKind
        public var at: Date
        public var metrics: HostMetrics
        public var observedVms: [ObservedVm]
        public var agentVersion: String
        /// The SHA-256 of every image in the agent's cache; nil from agents that do not report them.
        public var cachedImages: [String]? = nil
        /// The Open vSwitch integration bridge the agent found; nil when it has none.
        public var integrationBridge: String? = nil
        /// A compute machine's health after this heartbeat, from its window of readings (`HealthWindow`); nil
        /// while the window has not decided (the stored health stays) and for CloudBoxes. Set by `record`.
        public var health: HealthStatus? = nil
    }

    private struct State {
        var latest: [UUID: Beat] = [:]
        var dirty: Set<UUID> = []
        var lastSampled: [UUID: Date] = [:]
        var samples: [MetricSample] = []
        var droppedSamples = 0
        /// Each compute machine's recent readings and the health they give.
        var health: [UUID: HealthWindow] = [:]
    }

    private let state = Mutex(State())
    /// A metric sample is kept at most this often per host.
    let sampleInterval: TimeInterval
    /// Samples waiting to be written are bounded; the oldest are dropped first (and counted).
    let maximumPendingSamples: Int

    /// How a machine's health follows its readings.
    let healthPolicy: HealthPolicy

    public init(sampleInterval: TimeInterval = 60, maximumPendingSamples: Int = 100_000, healthPolicy: HealthPolicy = .init()) {
        self.sampleInterval = sampleInterval
        self.maximumPendingSamples = maximumPendingSamples
        self.healthPolicy = healthPolicy
    }

    /// Records a heartbeat; `backlog` holds readings the agent took before it (oldest first). A compute
    /// machine's backlog and reading go through its `HealthWindow`, which sets the beat's `health`.
    public func record(_ beat: Beat, backlog: [MetricReading] = []) {
        var beat = beat
        state.withLock { state in
            if beat.kind == .computeMachine {
                let readings = backlog.filter { $0.at < beat.at } + [MetricReading(at: beat.at, metrics: beat.metrics)]
                beat.health = state.health[beat.host, default: HealthWindow()].record(readings, now: beat.at, policy: healthPolicy)
            }
            state.latest[beat.host] = beat
            state.dirty.insert(beat.host)
            for reading in backlog where reading.at < beat.at {
                sample(&state, host: beat.host, kind: beat.kind, at: reading.at, metrics: reading.metrics)
            }
            sample(&state, host: beat.host, kind: beat.kind, at: beat.at, metrics: beat.metrics)
        }
    }

    /// Keeps a sample when the host's last one is at least `sampleInterval` older.
    private func sample(_ state: inout State, host: UUID, kind: HostKind, at: Date, metrics m: HostMetrics) {
        guard state.lastSampled[host].map({ at.timeIntervalSince($0) >= sampleInterval }) ?? true else { return }
        state.lastSampled[host] = at
        state.samples.append(MetricSample(
            computeMachineId: kind == .computeMachine ? host : nil,
            cloudBoxId: kind == .cloudBox ? host : nil,
            recordedAt: at, cpuUsagePercent: m.cpuUsagePercent, memoryUsagePercent: m.memoryUsagePercent,
            diskUsagePercent: m.diskUsagePercent, temperature: m.temperature, uptimeSeconds: m.uptimeSeconds,
            extra: m.loadAverage1m.map { ["loadAverage1m": .number($0)] }))
        if state.samples.count > maximumPendingSamples {
            state.droppedSamples += state.samples.count - maximumPendingSamples
            state.samples.removeFirst(state.samples.count - maximumPendingSamples)
        }
    }

    /// The hosts that heartbeated since the last drain, and the samples to write.
    public func drain() -> (beats: [Beat], samples: [MetricSample]) {
        state.withLock { state in
            let beats = state.dirty.compactMap { state.latest[$0] }
            let samples = state.samples
            state.dirty.removeAll(keepingCapacity: true)
            state.samples.removeAll(keepingCapacity: true)
            return (beats, samples)
        }
    }

    /// Puts drained work back after a failed write, so nothing is lost to a database hiccup.
    public func restore(_ beats: [Beat], samples: [MetricSample]) {
        state.withLock { state in
            for beat in beats where state.latest[beat.host].map({ $0.at <= beat.at }) ?? true {
                state.dirty.insert(beat.host)
            }
            state.samples.insert(contentsOf: samples.suffix(maximumPendingSamples - min(maximumPendingSamples, state.samples.count)), at: 0)
        }
    }

    public func latest(_ host: UUID) -> Beat? { state.withLock { $0.latest[host] } }
}
