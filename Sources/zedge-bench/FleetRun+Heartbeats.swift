import AsyncHTTPClient
import Foundation
import NIOCore

/// (b) Heartbeats: sustained on the agents' interval (open loop), then as fast as the server answers
/// (closed loop).
extension FleetRun {
    /// Every agent heartbeats every `interval` seconds, the agents' phases spread evenly over the interval:
    /// first one interval of warm-up (each agent's first heartbeat; not measured), then `duration` seconds
    /// measured. A heartbeat answered after its successor was due delays that successor (an agent sends one
    /// at a time).
    func sustainedHeartbeats(_ wire: AgentWire, _ fleet: SimulatedFleet) async throws -> TargetResults.Heartbeats {
        let latencies = LatencySamples()
        let answered = Counter()
        let errors = ErrorTally()
        let interval = Duration.seconds(options.interval)
        let start = ContinuousClock.now + .milliseconds(200)
        let measured = start + interval
        let end = measured + .seconds(options.duration)
        let server = self.server
        async let meter = { () async throws -> PhaseUsage.Meter in
            try await Task.sleep(until: measured)
            return try PhaseUsage.Meter(pid: server.pid)
        }()
        await withTaskGroup(of: Void.self) { group in
            for agent in fleet.agents {
                group.addTask {
                    await heartbeatLoop(wire, agent, phase: (Double(agent.index) + 0.5) / Double(fleet.count),
                                        start: start, measured: measured, end: end, interval: interval,
                                        latencies: latencies, answered: answered, errors: errors)
                }
            }
        }
        // Heartbeats still in flight at the end are awaited above (for their errors), but not counted.
        let usage = try await meter.finish()
        return .init(
            offeredPerSecond: Double(fleet.count) / Double(options.interval),
            achievedPerSecond: Double(answered.value) / Double(options.duration),
            errors: errors.total, errorSummary: errors.summary,
            p50: latencies.percentile(0.5), p99: latencies.percentile(0.99), usage: usage)
    }

    /// One agent's heartbeats, the first at `phase` (0..<1) of the first interval, until `end` (or
    /// cancellation); those sent before `measured` are not counted. `body` gives each heartbeat's body (by
    /// default the agent's own, encoded once).
    func heartbeatLoop(
        _ wire: AgentWire, _ agent: SimulatedFleet.Agent, phase: Double, start: ContinuousClock.Instant,
        measured: ContinuousClock.Instant, end: ContinuousClock.Instant, interval: Duration, latencies: LatencySamples,
        answered: Counter?, errors: ErrorTally, body: @Sendable (SimulatedFleet.Agent) -> ByteBuffer = { $0.heartbeat }
    ) async {
        var due = start + interval * phase
        while due < end {
            do { try await Task.sleep(until: due) } catch { return }
            await heartbeat(wire, agent, body: body(agent), latencies: latencies, answered: answered, measured: measured,
                            before: end, errors: errors)
            if Task.isCancelled { return }
            due += interval
        }
    }

    /// One heartbeat (`body`, by default the agent's own); measured if sent from `measured` on, counted as answered when it comes back 200
    /// before `before`.
    func heartbeat(
        _ wire: AgentWire, _ agent: SimulatedFleet.Agent, body: ByteBuffer? = nil, latencies: LatencySamples, answered: Counter?,
        measured: ContinuousClock.Instant? = nil, before: ContinuousClock.Instant, errors: ErrorTally
    ) async {
        let sent = ContinuousClock.now, sentAt = Date()
        do {
            let (status, _) = try await wire.send(
                wire.heartbeats, .POST, "/agent/v1/heartbeat", authorization: agent.authorization, body: body ?? agent.heartbeat)
            let received = ContinuousClock.now
            guard status == 200 else {
                errors.record(status: status)
                return
            }
            if let measured, sent < measured { return }
            latencies.add(received - sent, sentAt: sentAt)
            if received <= before { answered?.increment() }
        } catch {
            if !Task.isCancelled { errors.record(error: error) }
        }
    }

    /// `concurrency` loops send heartbeats back to back (each for the agents in its share, in turn) for
    /// `saturationDuration` seconds: the most heartbeats per second the server answers.
    func saturation(_ wire: AgentWire, _ fleet: SimulatedFleet) async throws -> TargetResults.Heartbeats {
        let latencies = LatencySamples()
        let answered = Counter()
        let errors = ErrorTally()
        let workers = options.concurrency
        // Warm the pool's connections first, so that the measurement is not of TLS handshakes.
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    await heartbeat(wire, fleet.agents[worker % fleet.count], latencies: LatencySamples(), answered: nil,
                                    before: .now, errors: ErrorTally())
                }
            }
        }
        let meter = try PhaseUsage.Meter(pid: server.pid)
        let start = ContinuousClock.now
        let end = start + .seconds(options.saturationDuration)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var index = worker
                    while ContinuousClock.now < end {
                        await heartbeat(wire, fleet.agents[index % fleet.count], latencies: latencies, answered: answered,
                                        before: end, errors: errors)
                        index += workers
                    }
                }
            }
        }
        let usage = try meter.finish()
        return .init(
            offeredPerSecond: nil, achievedPerSecond: Double(answered.value) / Double(options.saturationDuration),
            errors: errors.total, errorSummary: errors.summary,
            p50: latencies.percentile(0.5), p99: latencies.percentile(0.99), usage: usage)
    }
}
