import Foundation
import ZedgeCore

/// The pure rules of liveness and health: no I/O, an explicit clock.
public enum HostLiveness {
    /// The status a ComputeMachine should move to, or nil to stay. Only ACTIVE ↔ OFFLINE move by
    /// heartbeat: MAINTENANCE and DECOMMISSIONING are an operator's to change.
    public static func machineTransition(
        status: ComputeMachineStatus, lastHeartbeat: Date?, now: Date, timeout: TimeInterval
    ) -> ComputeMachineStatus? {
        let alive = lastHeartbeat.map { now.timeIntervalSince($0) < timeout } ?? false
        switch (status, alive) {
        case (.active, false) where lastHeartbeat != nil: return .offline
        case (.offline, true): return .active
        default: return nil
        }
    }

    /// The status a CloudBox should move to, or nil to stay: a heartbeat brings INITIALIZING and OFFLINE
    /// boxes ONLINE; silence takes ONLINE ones OFFLINE. MAINTENANCE and ERROR stay.
    public static func cloudBoxTransition(
        status: CloudBoxStatus, lastHeartbeat: Date?, now: Date, timeout: TimeInterval
    ) -> CloudBoxStatus? {
        let alive = lastHeartbeat.map { now.timeIntervalSince($0) < timeout } ?? false
        switch (status, alive) {
        case (.online, false) where lastHeartbeat != nil: return .offline
        case (.offline, true), (.initializing, true): return .online
        default: return nil
        }
    }
}

/// Readings above which a host is WARNING or CRITICAL.
public struct HealthThresholds: Sendable, Hashable {
    public struct Limits: Sendable, Hashable {
        public var cpuPercent: Double
        public var memoryPercent: Double
        public var diskPercent: Double
        public var temperature: Double
        public init(cpuPercent: Double, memoryPercent: Double, diskPercent: Double, temperature: Double) {
            self.cpuPercent = cpuPercent
            self.memoryPercent = memoryPercent
            self.diskPercent = diskPercent
            self.temperature = temperature
        }
    }

    public var warning: Limits
    public var critical: Limits

    public init(
        warning: Limits = .init(cpuPercent: 85, memoryPercent: 90, diskPercent: 90, temperature: 80),
        critical: Limits = .init(cpuPercent: 95, memoryPercent: 97, diskPercent: 97, temperature: 90)
    ) {
        self.warning = warning
        self.critical = critical
    }

    /// The worst level any reading reaches.
    public func assess(_ metrics: HostMetrics) -> HealthStatus {
        func exceeds(_ limits: Limits) -> Bool {
            (metrics.cpuUsagePercent ?? 0) >= limits.cpuPercent
                || (metrics.memoryUsagePercent ?? 0) >= limits.memoryPercent
                || (metrics.diskUsagePercent ?? 0) >= limits.diskPercent
                || (metrics.temperature ?? -273) >= limits.temperature
        }
        if exceeds(critical) { return .critical }
        if exceeds(warning) { return .warning }
        return .healthy
    }
}
