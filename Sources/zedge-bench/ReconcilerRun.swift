import Foundation
import NIOCore
import ZedgeCore

/// `zedge-bench reconciler` against the coordinator: register the machines and bring them up (each heartbeats with
/// the domains it runs and holds a long-poll, running the tasks it is given); create `instances` instances through
/// the API and wait until every one is RUNNING and reported by its machine; then, for the measured window, keep the
/// heartbeats going with a slow stream of creates beside them, while /metrics is scraped every second for the
/// reconciler's passes. Each request is put with the passes its time in flight overlapped (none, incremental,
/// full), so that the latencies during passes compare with those without, in the same run.
struct ReconcilerRun: Sendable {
    /// The creates' workload and loop (its `fleet` is this run's).
    let creates: CreateRun
    let instances: Int
    let duration: Int
    /// Creates in flight during the measured window, each loop pausing `probePause` between creates.
    let probeConcurrency: Int
    let probePause: Duration

    var fleet: FleetRun { creates.fleet }

    struct Split: Sendable {
        var none: LatencySamples
        var incremental: LatencySamples
        var full: LatencySamples
    }

    struct Results: Sendable {
        var machines = 0
        var held = 0
        var seeded = 0
        var seedPerSecond = 0.0
        /// From the last create accepted to every instance RUNNING and listed in its machine's heartbeat.
        var settledSeconds = 0.0
        var windowSeconds = 0.0
        /// The passes that overlapped the measured window.
        var passes: [ReconcilePasses.Pass] = []
        var heartbeats: Split?
        var creates: Split?
        var errors: [(String, String)] = []
        var usage: PhaseUsage?
    }

    func run() async throws -> Results {
        try await fleet.withWire(phases)
    }

    func phases(_ wire: AgentWire) async throws -> Results {
        var results = Results()
        let options = fleet.options
        let setup = try await fleet.prepare(wire)
        let admin = setup.adminAuthorization
        let (tenantIds, templateId) = try await creates.workload(wire, admin: admin)
        fleet.log("registering \(options.agents) machines")
        let (machines, registration) = try await fleet.register(wire, setup)
        guard machines.count == options.agents else {
            throw BenchError("\(machines.count) of \(options.agents) machines registered: \(registration.errorSummary ?? "?")")
        }
        results.machines = machines.count
        let hosted = HostedVms(agents: machines.count)
        let board = WakeBoard(agents: machines.count)
        let agentErrors = ErrorTally()
        let heartbeats = LatencySamples()
        let body = CreateRun.createBodies(tenantIds: tenantIds, templateId: templateId)
        try await withThrowingTaskGroup(of: Void.self) { group in
            results.held = try await fleet.host(wire, machines, hosted: hosted, board: board, errors: agentErrors,
                                                heartbeats: heartbeats, in: &group)
            fleet.log("\(results.held) long-polls held; creating \(instances) instances, \(options.concurrency) creates in flight")
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(15))
                    fleet.log("\(hosted.created.value) of \(instances) domains created")
                }
            }

            let seedBegan = ContinuousClock.now
            let seeded = try await creates.createLoop(wire, admin, for: .seconds(24 * 3600), limit: instances, body: body)
            results.seeded = seeded.all
            results.seedPerSecond = Double(seeded.all) / (ContinuousClock.now - seedBegan).seconds
            if let summary = seeded.errors.summary { results.errors.append(("seeding creates", summary)) }
            guard seeded.all == instances else { throw BenchError("\(seeded.all) of \(instances) creates accepted: \(seeded.errors.summary ?? "?")") }

            // Every instance RUNNING, then one more heartbeat interval: every machine's report lists its domains.
            let seededAt = ContinuousClock.now
            let deadline = seededAt + .seconds(600)
            while true {
                let running = try await creates.metricsPage(wire).value("zedge_instances", ["status": "RUNNING"]) ?? 0
                if hosted.created.value >= instances, Int(running) >= instances { break }
                guard ContinuousClock.now < deadline else {
                    throw BenchError("600 s after seeding: \(hosted.created.value) domains created, \(Int(running)) of \(instances) instances RUNNING")
                }
                try await Task.sleep(for: .seconds(1))
            }
            try await Task.sleep(for: .seconds(options.interval + 1))
            results.settledSeconds = (ContinuousClock.now - seededAt).seconds

            fleet.log("measuring \(duration) s: heartbeats, and \(probeConcurrency) create loop(s) pausing \(probePause) between creates")
            let passes = ReconcilePasses()
            let windowStart = Date().timeIntervalSince1970, windowEnd = windowStart + Double(duration)
            let meter = try PhaseUsage.Meter(pid: fleet.server.pid)
            async let scraping: Void = scrape(wire, into: passes, until: windowEnd)
            let probes = try await creates.createLoop(
                wire, admin, for: .seconds(duration), concurrency: probeConcurrency, pause: probePause, body: body)
            results.usage = try meter.finish()
            try await scraping
            let window = windowStart..<windowEnd
            results.windowSeconds = Double(duration)
            results.passes = passes.all.filter { $0.ended > windowStart && $0.started < windowEnd }
            let heartbeatSplit = passes.split(heartbeats, within: window), createSplit = passes.split(probes.latencies, within: window)
            results.heartbeats = Split(none: heartbeatSplit.none, incremental: heartbeatSplit.incremental, full: heartbeatSplit.full)
            results.creates = Split(none: createSplit.none, incremental: createSplit.incremental, full: createSplit.full)
            if let summary = probes.errors.summary { results.errors.append(("measured creates", summary)) }
            if let summary = agentErrors.summary { results.errors.append(("agents", summary)) }
            group.cancelAll()
        }
        return results
    }

    /// Scrapes /metrics every second into `passes` until `end` (wall clock), then on until a pass that began after it
    /// is seen (so every pass that overlapped the window has ended and is known), for at most 120 s more.
    func scrape(_ wire: AgentWire, into passes: ReconcilePasses, until end: Double) async throws {
        while true {
            passes.observe(try await creates.metricsPage(wire))
            let now = Date().timeIntervalSince1970
            if now >= end, passes.sawPass(startedAfter: end) { return }
            guard now < end + 120 else { throw BenchError("no reconciler pass began within 120 s after the window") }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
