#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One machine's recent readings and the health they give under a `HealthPolicy` (the rule is stated there).
/// A value with no I/O and no clock of its own: time is the readings' and the caller's `now`.
///
/// It keeps at most `policy.maximumReadings` (time, level) pairs from the last `policy.window` seconds and two
/// times, so taking in one heartbeat costs O(window) and a fleet of 10,000 machines holds a few hundred
/// kilobytes.
public struct HealthWindow: Sendable, Hashable {
    struct Entry: Sendable, Hashable {
        var at: Date
        var level: HealthStatus
    }

    /// The health its readings decided; nil until they decide anything (see `HealthPolicy`).
    public private(set) var status: HealthStatus?
    /// The window's readings, oldest first.
    private(set) var entries: [Entry] = []
    /// The newest reading taken in; older or equal ones are skipped (a backlog repeated, clocks apart).
    private(set) var newest: Date?
    /// Since when every reading has stayed below WARNING's (CRITICAL's) lowered limits; nil when the last
    /// one did not.
    private(set) var calmSinceWarning: Date?
    private(set) var calmSinceCritical: Date?

    /// A window that starts from `status` (nil: nothing known).
    public init(status: HealthStatus? = nil) {
        self.status = status
    }

    /// Takes in `readings` (oldest first) and returns the health at `now`: `status` after them.
    @discardableResult
    public mutating func record(_ readings: [MetricReading], now: Date, policy: HealthPolicy) -> HealthStatus? {
        let thresholds = policy.thresholds
        let calmWarning = thresholds.warning.lowered(by: policy.recoveryMargin)
        let calmCritical = thresholds.critical.lowered(by: policy.recoveryMargin)
        for reading in readings {
            if let newest, reading.at <= newest { continue }
            // A pause longer than the window breaks a calm streak: what the host did meanwhile is unknown.
            if let newest, reading.at.timeIntervalSince(newest) > policy.window {
                calmSinceWarning = nil
                calmSinceCritical = nil
            }
            newest = reading.at
            calmSinceWarning = calmWarning.reached(by: reading.metrics) ? nil : (calmSinceWarning ?? reading.at)
            calmSinceCritical = calmCritical.reached(by: reading.metrics) ? nil : (calmSinceCritical ?? reading.at)
            entries.append(Entry(at: reading.at, level: thresholds.assess(reading.metrics)))
        }
        let start = now.addingTimeInterval(-policy.window)
        let stale = entries.firstIndex { $0.at >= start } ?? entries.count
        let excess = max(stale, entries.count - policy.maximumReadings)
        if excess > 0 { entries.removeFirst(excess) }
        decide(now: now, policy: policy)
        return status
    }

    /// The level the window's readings enter (the worst one whose share is large enough), or nil.
    func entered(_ policy: HealthPolicy) -> HealthStatus? {
        guard entries.count >= policy.minimumReadings else { return nil }
        let needed = policy.enterFraction * Double(entries.count)
        let critical = entries.count(where: { $0.level == .critical })
        if Double(critical) >= needed { return .critical }
        let warning = critical + entries.count(where: { $0.level == .warning })
        if Double(warning) >= needed { return .warning }
        return nil
    }

    private mutating func decide(now: Date, policy: HealthPolicy) {
        func settled(_ since: Date?) -> Bool { since.map { now.timeIntervalSince($0) >= policy.transitionPeriod } ?? false }
        let entered = entered(policy)
        var next = status
        switch status {
        case .critical?:
            if settled(calmSinceCritical) { next = settled(calmSinceWarning) ? .healthy : .warning }
        case .warning?:
            if settled(calmSinceWarning) { next = .healthy }
        case nil:
            // Not CRITICAL for a whole transition period: HEALTHY, or WARNING if the window enters it (below).
            if settled(calmSinceCritical) || settled(calmSinceWarning) { next = .healthy }
        case .healthy?:
            break
        }
        // Up at once to what the window enters, and never down below it (a transition period shorter than the
        // window must not leave a level the window still holds).
        status = Self.rank(entered) > Self.rank(next) ? entered : next
    }

    /// nil < HEALTHY < WARNING < CRITICAL.
    static func rank(_ status: HealthStatus?) -> Int {
        switch status {
        case nil: 0
        case .healthy?: 1
        case .warning?: 2
        case .critical?: 3
        }
    }
}
