import AsyncHTTPClient
import Foundation
import NIOCore
import ZedgeCoordinator
import ZedgeCore

/// `zedge-bench creates` against one server: register the machines; bring them up (each heartbeats on the
/// interval with the domains it runs and holds a long-poll, running the tasks it is given); creates in a closed
/// loop (a warm-up, then the measured window); then wait for the machines to have taken every accepted task.
struct CreateRun: Sendable {
    let fleet: FleetRun
    let duration: Int
    let warmup: Int
    /// Tenants the creates take turns in (each create checks and locks its tenant's quota).
    let tenants: Int

    struct Results: Sendable {
        var machines = 0
        var held = 0
        var accepted = 0
        var acceptedPerSecond = 0.0
        var p50: Double?
        var p99: Double?
        var errors = 0
        var errorSummary: String?
        /// vm.create tasks the machines ran over creates accepted (warm-up and measured), once drained.
        var deliveredShare: Double?
        /// The CPU placed on each machine once drained (warm-up and measured), % of its cores.
        var placedCPU: Spread?
        var agentErrorSummary: String?
        var usage: PhaseUsage?
        /// The coordinator's own mean wall time per create stage over the measured window, ms, in stage order
        /// (`zedge_instance_create_stage_seconds`); empty for the bare server.
        var stages: [(stage: String, milliseconds: Double)] = []
        /// SQLite's writer over the measured window, per create accepted: acquisitions, and held and handed-over
        /// milliseconds (`zedge_sqlite_writer_*`); the share of the window it was held or handed over; and the
        /// statements it ran, its commits and the WAL pages they wrote, per create (counts: noise does not move
        /// them). Nil for the bare server and on PostgreSQL.
        var writer: (acquisitions: Double, heldMs: Double, handOverMs: Double, busy: Double,
                     statements: Double, commits: Double, walPages: Double)?
    }

    private var server: BenchServer { fleet.server }
    private var options: RunOptions { fleet.options }

    private struct Named: Encodable {
        var name: String
        var quotaConfig: QuotaConfig?
    }

    private struct TemplateBody: Encodable {
        var name: String
        var visibility = "PUBLIC"
        /// Each instance's CPU cores.
        static let cpuCores = 1
        var defaultCpuCores = cpuCores
        var defaultMemoryGb = 1
        var defaultStorageGb = 10
    }

    private struct Identified: Decodable { var id: UUID }

    private struct CreateBody: Encodable {
        var name: String
        var templateId: UUID
        var tenantId: UUID
    }

    func run() async throws -> Results {
        try await fleet.withWire(phases)
    }

    func phases(_ wire: AgentWire) async throws -> Results {
        var results = Results()
        let setup = try await fleet.prepare(wire)
        let (tenantIds, templateId) = try await workload(wire, admin: setup.adminAuthorization)
        fleet.log("registering \(options.agents) machines")
        let (machines, registration) = try await fleet.register(wire, setup)
        guard machines.count == options.agents else {
            throw BenchError("\(machines.count) of \(options.agents) machines registered: \(registration.errorSummary ?? "?")")
        }
        results.machines = machines.count
        let hosted = HostedVms(agents: machines.count)
        let board = WakeBoard(agents: machines.count)
        let agentErrors = ErrorTally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            results.held = try await fleet.host(wire, machines, hosted: hosted, board: board, errors: agentErrors,
                                                heartbeats: LatencySamples(), in: &group)
            fleet.log("\(results.held) long-polls held; \(warmup) s of warm-up, then \(duration) s of creates, \(options.concurrency) in flight")

            let body = Self.createBodies(tenantIds: tenantIds, templateId: templateId)
            let warm = try await createLoop(wire, setup.adminAuthorization, for: .seconds(warmup), body: body)
            let pageBefore = try await metricsPage(wire)
            let stagesBefore = stageTotals(pageBefore), writerBefore = Self.writerTotals(pageBefore)
            let meter = try PhaseUsage.Meter(pid: server.pid)
            let measured = try await createLoop(wire, setup.adminAuthorization, for: .seconds(duration), body: body)
            results.usage = try meter.finish()
            let pageAfter = try await metricsPage(wire)
            let stagesAfter = stageTotals(pageAfter), writerAfter = Self.writerTotals(pageAfter)
            if measured.accepted > 0, let acquisitions = writerAfter["acquisitions"], acquisitions > 0 {
                func delta(_ name: String) -> Double { (writerAfter[name] ?? 0) - (writerBefore[name] ?? 0) }
                let creates = Double(measured.accepted)
                results.writer = (delta("acquisitions") / creates, delta("held_seconds") / creates * 1000,
                                  delta("handover_seconds") / creates * 1000,
                                  (delta("held_seconds") + delta("handover_seconds")) / Double(duration),
                                  delta("statements") / creates, delta("commits") / creates, delta("wal_pages") / creates)
            }
            results.stages = stagesAfter.compactMap { stage, after in
                let before: (sum: Double, count: Double) = stagesBefore.first { $0.stage == stage }?.totals ?? (0, 0)
                let count = after.count - before.count
                return count > 0 ? (stage, (after.sum - before.sum) / count * 1000) : nil
            }
            results.accepted = measured.accepted
            results.acceptedPerSecond = Double(measured.accepted) / Double(duration)
            results.p50 = measured.latencies.percentile(0.5)
            results.p99 = measured.latencies.percentile(0.99)
            results.errors = measured.errors.total + warm.errors.total
            results.errorSummary = measured.errors.summary ?? warm.errors.summary

            // Every accepted create's task reaches its machine (the coordinator's dispatch keeps up).
            let total = warm.all + measured.all
            let drain = ContinuousClock.now + .seconds(30)
            while hosted.created.value < total, ContinuousClock.now < drain { try await Task.sleep(for: .milliseconds(100)) }
            results.deliveredShare = total > 0 ? Double(hosted.created.value) / Double(total) : nil
            // The bare server hands each task to whichever poll it has: it places nothing.
            if server.kind == .zedge { results.placedCPU = hosted.spread(coresEach: TemplateBody.cpuCores) }
            results.agentErrorSummary = agentErrors.summary
            group.cancelAll()
        }
        return results
    }

    /// The bodies of successive creates: `bench-0`, `bench-1`, … of the template, taking turns in the tenants.
    static func createBodies(tenantIds: [UUID], templateId: UUID) -> @Sendable () throws -> ByteBuffer {
        let names = Counter()
        return {
            let n = names.next()
            return try AgentWire.encode(CreateBody(name: "bench-\(n)", templateId: templateId, tenantId: tenantIds[n % tenantIds.count]))
        }
    }

    /// `tenants` tenants with a quota each (so that each create counts its tenant's usage) and a small PUBLIC template;
    /// the bare server takes any ids.
    func workload(_ wire: AgentWire, admin: String) async throws -> (tenantIds: [UUID], templateId: UUID) {
        guard server.kind == .zedge else { return ((0..<tenants).map { _ in UUID() }, UUID()) }
        var tenantIds: [UUID] = []
        for n in 0..<tenants {
            tenantIds.append(try await wire.json(
                wire.admin, .POST, "/api/v1/tenants", authorization: admin,
                body: Named(name: "bench-tenant-\(n)", quotaConfig: QuotaConfig(cpuCores: 10_000_000, memoryGb: 10_000_000, instances: 1_000_000)),
                expecting: 201, as: Identified.self).id)
        }
        let template = try await wire.json(
            wire.admin, .POST, "/api/v1/templates", authorization: admin, body: TemplateBody(name: "bench-small"),
            expecting: 201, as: Identified.self)
        return (tenantIds, template.id)
    }

    /// The coordinator's /metrics page; empty for the bare server.
    func metricsPage(_ wire: AgentWire) async throws -> PrometheusText {
        guard server.kind == .zedge else { return try PrometheusText("") }
        let (status, page) = try await wire.send(wire.admin, .GET, "/metrics", authorization: nil)
        guard status == 200 else { throw BenchError("/metrics: HTTP \(status)") }
        return try PrometheusText(String(buffer: page))
    }

    /// The `zedge_sqlite_writer_*_total` counters of a /metrics page, by the name between the prefix and `_total`
    /// (`acquisitions`, `held_seconds`, `waited_seconds`, `handover_seconds`).
    static func writerTotals(_ page: PrometheusText) -> [String: Double] {
        var totals: [String: Double] = [:]
        for (series, value) in page.samples where series.name.hasPrefix("zedge_sqlite_writer_") && series.name.hasSuffix("_total") {
            totals[String(series.name.dropFirst("zedge_sqlite_writer_".count).dropLast("_total".count))] = value
        }
        return totals
    }

    /// `zedge_instance_create_stage_seconds` from a /metrics page: each stage's sum (seconds) and count, in stage order.
    func stageTotals(_ page: PrometheusText) -> [(stage: String, totals: (sum: Double, count: Double))] {
        InstanceCreateStage.allCases.compactMap { stage in
            let labels = ["stage": stage.rawValue]
            guard let sum = page.value("zedge_instance_create_stage_seconds_sum", labels),
                  let count = page.value("zedge_instance_create_stage_seconds_count", labels) else { return nil }
            return (stage.rawValue, (sum, count))
        }
    }

    struct Window {
        /// Answered 202 within the window.
        var accepted: Int
        /// Answered 202, also after the window's end.
        var all: Int
        var latencies: LatencySamples
        var errors: ErrorTally
    }

    /// `concurrency` loops (by default the run's), each sending the next create `pause` after the last is answered,
    /// for `length` or until `limit` creates were accepted.
    func createLoop(
        _ wire: AgentWire, _ admin: String, for length: Duration, concurrency: Int? = nil, pause: Duration = .zero, limit: Int? = nil,
        body: @escaping @Sendable () throws -> ByteBuffer
    ) async throws -> Window {
        let latencies = LatencySamples(), errors = ErrorTally(), accepted = Counter(), all = Counter(), issued = Counter()
        let end = ContinuousClock.now + length
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<(concurrency ?? options.concurrency) {
                group.addTask {
                    while ContinuousClock.now < end, !Task.isCancelled {
                        if let limit, issued.next() >= limit + errors.total { break }
                        if pause > .zero { try? await Task.sleep(for: pause) }
                        let sent = ContinuousClock.now, sentAt = Date()
                        do {
                            let (status, answer) = try await wire.send(wire.admin, .POST, "/api/v1/instances", authorization: admin, body: try body())
                            guard status == 202 else {
                                errors.record("HTTP \(status) \(String(buffer: answer).prefix(120))")
                                continue
                            }
                            let received = ContinuousClock.now
                            all.increment()
                            if received <= end {
                                accepted.increment()
                                latencies.add(received - sent, sentAt: sentAt)
                            }
                        } catch {
                            errors.record(error: error)
                        }
                    }
                }
            }
        }
        return Window(accepted: accepted.value, all: all.value, latencies: latencies, errors: errors)
    }
}
