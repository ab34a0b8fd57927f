import Foundation
import Testing
@testable import ZedgeCore

/// The health rule (`HealthPolicy`, `HealthWindow`) with values only: readings at chosen times, no clock.
@Suite struct HealthWindowTests {
    let t0 = Date(timeIntervalSince1970: 1_750_000_000)
    /// The defaults: CPU WARNING at 85, CRITICAL at 95; 60-s window, 80 %, 3 readings; 300-s transition, 5 points.
    let policy = HealthPolicy()

    func reading(_ second: Double, cpu: Double) -> MetricReading {
        MetricReading(at: t0.addingTimeInterval(second), metrics: HostMetrics(cpuUsagePercent: cpu, memoryUsagePercent: 30))
    }

    /// Heartbeats every `every` seconds from `from` for `count` beats, each with one reading of `cpu(i)`; the
    /// status after each.
    func beats(_ window: inout HealthWindow, from: Double, every: Double = 10, count: Int, cpu: (Int) -> Double) -> [HealthStatus?] {
        (0..<count).map { i in
            let at = from + Double(i) * every
            return window.record([reading(at, cpu: cpu(i))], now: t0.addingTimeInterval(at), policy: policy)
        }
    }

    @Test func oneBusySampleAmongNormalOnesChangesNothing() {
        var window = HealthWindow(status: .healthy)
        // Six normal heartbeats, one at 100 %, six normal again.
        let statuses = beats(&window, from: 0, count: 13) { $0 == 6 ? 100 : 20 }
        #expect(statuses.allSatisfy { $0 == .healthy }, "\(statuses)")
        // Nor in one heartbeat that carries a backlog of normal readings and a saturated current one.
        var fresh = HealthWindow(status: .healthy)
        let backlog = (0..<5).map { reading(Double($0) * 10, cpu: 15) } + [reading(50, cpu: 100)]
        #expect(fresh.record(backlog, now: t0.addingTimeInterval(50), policy: policy) == .healthy)
    }

    @Test func sustainedSaturationIsCriticalWithinTheWindow() {
        var window = HealthWindow(status: .healthy)
        let statuses = beats(&window, from: 0, count: 8) { _ in 100 }
        // Two readings are too few; from the third (all at 100 %) the window says CRITICAL, and it stays.
        #expect(statuses == [.healthy, .healthy, .critical, .critical, .critical, .critical, .critical, .critical])
        // One dip in a saturated window does not lift it: 80 % of the readings are still over the limit.
        #expect(window.record([reading(80, cpu: 50)], now: t0.addingTimeInterval(80), policy: policy) == .critical)
    }

    @Test func aBusyHostEntersWarningNotCritical() {
        var window = HealthWindow(status: .healthy)
        let statuses = beats(&window, from: 0, count: 6) { _ in 90 }
        #expect(statuses.last == .warning)
        // Memory counts as CPU does.
        var memory = HealthWindow(status: .healthy)
        for i in 0..<4 {
            let r = MetricReading(at: t0.addingTimeInterval(Double(i) * 10), metrics: HostMetrics(cpuUsagePercent: 5, memoryUsagePercent: 98))
            memory.record([r], now: r.at, policy: policy)
        }
        #expect(memory.status == .critical)
    }

    @Test func flappingAroundTheCriticalLimitDoesNotFlipEachHeartbeat() {
        var window = HealthWindow(status: .healthy)
        // 94 / 96 alternating: every reading is WARNING or worse, half are CRITICAL. WARNING, then steady.
        let statuses = beats(&window, from: 0, count: 40) { $0 % 2 == 0 ? 96 : 94 }
        #expect(statuses.suffix(37).allSatisfy { $0 == .warning }, "\(statuses)")
        // From CRITICAL, the same flapping never counts as recovery (94 is not below 95 - 5): it stays CRITICAL.
        var critical = HealthWindow(status: .critical)
        let held = beats(&critical, from: 0, count: 60) { $0 % 2 == 0 ? 96 : 94 }
        #expect(held.allSatisfy { $0 == .critical })
    }

    @Test func flappingAroundTheWarningLimitDoesNotFlipEither() {
        var window = HealthWindow(status: .healthy)
        let up = beats(&window, from: 0, count: 30) { $0 % 2 == 0 ? 86 : 84 }
        #expect(up.allSatisfy { $0 == .healthy }, "half the readings over 85 do not enter WARNING")
        var warned = HealthWindow(status: .warning)
        let down = beats(&warned, from: 0, count: 60) { $0 % 2 == 0 ? 86 : 84 }
        #expect(down.allSatisfy { $0 == .warning }, "and do not leave it: 84 is not below 85 - 5")
    }

    @Test func recoveryNeedsTheTransitionPeriodBelowTheLoweredLimits() throws {
        var window = HealthWindow(status: .healthy)
        _ = beats(&window, from: 0, count: 6) { _ in 100 }
        #expect(window.status == .critical)
        // Calm from t = 60 s: CRITICAL until 300 s of calm readings have passed, then HEALTHY at once (also
        // below WARNING's lowered limits).
        let statuses = beats(&window, from: 60, count: 32) { _ in 20 }
        let firstHealthy = try #require(statuses.firstIndex { $0 == .healthy })
        #expect(statuses[..<firstHealthy].allSatisfy { $0 == .critical })
        #expect(60 + Double(firstHealthy) * 10 == 360, "left exactly when the transition period had passed")
        #expect(statuses[firstHealthy...].allSatisfy { $0 == .healthy })
    }

    @Test func criticalStepsDownToWarningWhileReadingsStayAboveWarningsLoweredLimits() {
        var window = HealthWindow(status: .critical)
        // 88 %: below CRITICAL's lowered limit (90), not below WARNING's (80).
        let statuses = beats(&window, from: 0, count: 40) { _ in 88 }
        #expect(statuses.first == .critical && statuses.last == .warning)
        #expect(statuses.firstIndex { $0 == .warning }.map { Double($0) * 10 } == 300)
    }

    @Test func aBusyReadingRestartsTheTransitionPeriod() {
        var window = HealthWindow(status: .critical)
        _ = beats(&window, from: 0, count: 25) { _ in 20 }  // 240 s calm
        #expect(window.status == .critical)
        #expect(window.record([reading(250, cpu: 99)], now: t0.addingTimeInterval(250), policy: policy) == .critical)
        let statuses = beats(&window, from: 260, count: 32) { _ in 20 }
        // Calm again from 260 s: HEALTHY only at 560 s.
        #expect(statuses.firstIndex { $0 == .healthy }.map { 260 + Double($0) * 10 } == 560)
    }

    @Test func aPauseLongerThanTheWindowRestartsTheCount() {
        var window = HealthWindow(status: .critical)
        _ = beats(&window, from: 0, count: 2) { _ in 20 }
        // Ten minutes without readings (the host was silent), then calm readings: the count starts again.
        let statuses = beats(&window, from: 610, count: 31) { _ in 20 }
        #expect(statuses.firstIndex { $0 == .healthy }.map { 610 + Double($0) * 10 } == 910)
    }

    @Test func aWindowThatKnowsNothingDecidesOnlyWhenReadingsDo() {
        // A coordinator that starts: the stored health stays (nil) until the readings enter a level ...
        var busy = HealthWindow()
        let entered = beats(&busy, from: 0, count: 3) { _ in 100 }
        #expect(entered == [nil, nil, .critical])
        // ... or stay calm for the transition period.
        var calm = HealthWindow()
        let settled = beats(&calm, from: 0, count: 32) { _ in 10 }
        #expect(settled.firstIndex { $0 != nil }.map { Double($0) * 10 } == 300)
        #expect(settled.last == .healthy)
        // A host steady between WARNING's lowered and entry limits: not CRITICAL for the transition period, so
        // HEALTHY then (a CRITICAL stored before a restart does not stick).
        var between = HealthWindow()
        let steady = beats(&between, from: 0, count: 32) { _ in 82 }
        #expect(steady.firstIndex { $0 != nil }.map { Double($0) * 10 } == 300)
        #expect(steady.last == .healthy)
        // One steady in WARNING's band enters WARNING at once.
        var warm = HealthWindow()
        #expect(beats(&warm, from: 0, count: 3) { _ in 88 } == [nil, nil, .warning])
    }

    @Test func oldOrRepeatedReadingsAreSkipped() {
        var window = HealthWindow(status: .healthy)
        _ = beats(&window, from: 0, count: 3) { _ in 20 }
        // A backlog that repeats readings already taken in (and one older than the window) adds nothing.
        let stale = [reading(-100, cpu: 100), reading(0, cpu: 100), reading(10, cpu: 100), reading(20, cpu: 100)]
        #expect(window.record(stale, now: t0.addingTimeInterval(25), policy: policy) == .healthy)
        #expect(window.entries.count == 3)
    }

    @Test func theWindowIsBoundedInTimeAndCount() {
        var window = HealthWindow(status: .healthy)
        // A reading every 100 ms for 10 minutes: the window keeps at most 64 of the last 60 s.
        for i in 0..<6000 {
            let r = reading(Double(i) / 10, cpu: 20)
            window.record([r], now: r.at, policy: policy)
            #expect(window.entries.count <= policy.maximumReadings)
        }
        #expect(window.entries.count == 64)
        #expect(window.entries.first.map { t0.addingTimeInterval(599.9).timeIntervalSince($0.at) }.map { $0 < 60 } == true)
        // A gap leaves only the readings of the last 60 s.
        window.record([reading(1000, cpu: 20)], now: t0.addingTimeInterval(1000), policy: policy)
        #expect(window.entries.count == 1)
    }
}
