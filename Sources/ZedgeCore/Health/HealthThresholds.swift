#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Readings at or above which one reading is WARNING or CRITICAL (percent for CPU, memory and disk; °C for the
/// hottest thermal zone). A machine's health comes from a window of such readings (`HealthWindow`), never
/// from one alone.
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

        /// Whether any reading of `metrics` is at or above its limit (a missing reading never is).
        public func reached(by metrics: HostMetrics) -> Bool {
            (metrics.cpuUsagePercent ?? 0) >= cpuPercent
                || (metrics.memoryUsagePercent ?? 0) >= memoryPercent
                || (metrics.diskUsagePercent ?? 0) >= diskPercent
                || (metrics.temperature ?? -273) >= temperature
        }

        /// These limits lowered by `margin` (points, or °C), where a reading must stay to leave a level.
        public func lowered(by margin: Double) -> Limits {
            Limits(cpuPercent: cpuPercent - margin, memoryPercent: memoryPercent - margin,
                   diskPercent: diskPercent - margin, temperature: temperature - margin)
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

    /// The worst level any reading of `metrics` reaches.
    public func assess(_ metrics: HostMetrics) -> HealthStatus {
        if critical.reached(by: metrics) { return .critical }
        if warning.reached(by: metrics) { return .warning }
        return .healthy
    }

    /// The limits of `level` (WARNING or CRITICAL; HEALTHY has none and gives nil).
    public func limits(of level: HealthStatus) -> Limits? {
        switch level {
        case .healthy: nil
        case .warning: warning
        case .critical: critical
        }
    }
}
