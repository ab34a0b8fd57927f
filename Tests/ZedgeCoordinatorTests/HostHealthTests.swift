import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #12, fault 5: a machine's health comes from a window of readings with hysteresis (`HealthPolicy`),
/// through the real heartbeat path: what `GET /api/v1/compute-machines` shows and what placement does.
@Suite struct HostHealthTests {
    /// A heartbeat whose current reading is `cpu` % and whose backlog holds `backlog` (seconds before now, cpu).
    /// Backlog readings older than the machine's last reading are not taken in (a backlog follows the last
    /// delivered heartbeat), so tests give them times since `settle()`.
    static func heartbeat(_ c: TestCoordinator, _ credential: String, cpu: Double, backlog: [(secondsAgo: Double, cpu: Double)] = [])
        async throws -> Date
    {
        func metrics(_ cpu: Double) -> HostMetrics {
            HostMetrics(cpuUsagePercent: cpu, memoryUsagePercent: 30, diskUsagePercent: 30, temperature: 45, uptimeSeconds: 100)
        }
        let now = Date()
        let readings = backlog.map { MetricReading(at: now.addingTimeInterval(-$0.secondsAgo), metrics: metrics($0.cpu)) }
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(HeartbeatRequest(
            metrics: metrics(cpu), observedVms: [], agentVersion: "test", backlog: readings.isEmpty ? nil : readings))) as! [String: Any]
        let response = try await c.client.post("/agent/v1/heartbeat", token: credential, body)
        guard response.status == 200 else { throw TestFailure("heartbeat: \(response.status) \(response.text)") }
        return try response.decode(HeartbeatResponse.self).serverTime
    }

    /// Room for five backlog readings 0.2 s apart after the enrolment heartbeat.
    static func settle() async throws { try await Task.sleep(for: .milliseconds(1200)) }

    /// The machine once the liveness flush has written the heartbeat received at `at`.
    static func machine(_ f: InstanceFixture, _ id: UUID, after at: Date) async throws -> ComputeMachine {
        var machine: ComputeMachine?
        try await eventually("the heartbeat is stored") {
            machine = try await f.c.client.get("/api/v1/compute-machines/\(id)", token: f.admin).decode(ComputeMachine.self)
            return (machine?.lastHeartbeat ?? .distantPast) >= at.addingTimeInterval(-0.001)
        }
        return try #require(machine)
    }

    @Test(arguments: TestEngine.all)
    func oneBusyReadingAmongNormalOnesLeavesTheMachineHealthyAndPlaceable(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.13.0.1")
            // Normal readings, then one at 100 %: the instant sample of the issue.
            try await Self.settle()
            let at = try await Self.heartbeat(c, host.credential, cpu: 100, backlog: [(1, 20), (0.8, 20), (0.6, 20), (0.4, 20), (0.2, 20)])
            #expect(try await Self.machine(f, host.id, after: at).healthStatus == .healthy)
            let created = try await f.create("placed")
            #expect(created.status == 202, "\(created.text)")
        }
    }

    @Test(arguments: TestEngine.all)
    func sustainedSaturationIsCriticalAndUnplaceableAndRecoveryWaitsForTheTransitionPeriod(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            InstanceFixture.patient(&$0)
            $0.healthPolicy.transitionPeriod = 2  // short enough for a test; the rule is the same as with 300 s
        }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.13.0.2")
            try await Self.settle()
            let busy = try await Self.heartbeat(c, host.credential, cpu: 100, backlog: [(1, 100), (0.8, 99), (0.6, 100), (0.4, 100), (0.2, 98)])
            #expect(try await Self.machine(f, host.id, after: busy).healthStatus == .critical)
            let refused = try await f.create("refused")
            #expect(refused.status == 409 && refused.text.contains("CRITICAL"), "\(refused.text)")

            // The first calm reading does not bring it back: the transition period has not passed.
            let calm = try await Self.heartbeat(c, host.credential, cpu: 10)
            #expect(try await Self.machine(f, host.id, after: calm).healthStatus == .critical)
            #expect(try await f.create("still-refused").status == 409)
            // Readings that stay calm for it do (CRITICAL readings are still in the window, but under 80 % of it).
            try await eventually("HEALTHY after the transition period", within: 30) {
                let at = try await Self.heartbeat(c, host.credential, cpu: 10)
                try await Task.sleep(for: .milliseconds(300))
                return try await Self.machine(f, host.id, after: at).healthStatus == .healthy
            }
            let created = try await f.create("placed")
            #expect(created.status == 202, "\(created.text)")
        }
    }
}

@Suite struct LivenessTrackerHealthTests {
    let now = Date(timeIntervalSince1970: 2_000_000)

    @Test func theTrackerJudgesHealthFromTheWindowNotTheLatestReading() {
        let tracker = LivenessTracker(sampleInterval: 60)
        let host = UUID()
        func beat(_ second: Double, cpu: Double) -> HealthStatus? {
            tracker.record(.init(host: host, kind: .computeMachine, at: now.addingTimeInterval(second),
                                 metrics: HostMetrics(cpuUsagePercent: cpu), observedVms: [], agentVersion: "t"))
            return tracker.drain().beats.first?.health
        }
        #expect([beat(0, cpu: 20), beat(10, cpu: 20)] == [nil, nil], "nothing decided yet: the stored health stays")
        // Saturated from 20 s: CRITICAL once 80 % of the last minute's readings are (at 70 s, 6 of 7).
        #expect((2...7).map { beat(Double($0) * 10, cpu: 100) } == [nil, nil, nil, nil, nil, .critical])
        // A CloudBox has no health of this kind.
        tracker.record(.init(host: UUID(), kind: .cloudBox, at: now, metrics: HostMetrics(cpuUsagePercent: 100), observedVms: [], agentVersion: "t"))
        #expect(tracker.drain().beats.first?.health == nil)
    }

    @Test func aBacklogCountsTowardsTheWindow() {
        let tracker = LivenessTracker(sampleInterval: 60)
        let host = UUID()
        let backlog = (1...4).map { MetricReading(at: now.addingTimeInterval(Double(-$0 * 10)), metrics: HostMetrics(cpuUsagePercent: 90)) }
        tracker.record(.init(host: host, kind: .computeMachine, at: now, metrics: HostMetrics(cpuUsagePercent: 90), observedVms: [], agentVersion: "t"),
                       backlog: backlog.reversed())
        #expect(tracker.drain().beats.first?.health == .warning)
    }
}
