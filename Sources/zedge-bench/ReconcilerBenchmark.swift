import ArgumentParser
import Foundation

/// `zedge-bench reconciler`: the instance reconciler at fleet scale (issue #14, item 6: 100,000 instances on 10,000
/// hosts). Reports the passes (full and incremental: wall time and the settled instances each read) and the
/// heartbeat and create latencies while a pass runs against those while none does, measured in the same run: the
/// ceiling here is the coordinator itself between passes.
struct ReconcilerBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconciler",
        abstract: "Reconciler passes over many instances, and what they cost heartbeats and creates.",
        discussion: """
            The instances are created through the API (as `creates` does) and run by the simulated machines, which \
            list their domains in every heartbeat; so that a pass has real work to compare. During the measured \
            window the coordinator runs a full pass every --full-pass-interval seconds and an incremental one every \
            5 s; a slow stream of creates changes a few machines between passes. Seeding 100,000 instances takes \
            about 5 minutes on 2 cores.
            """)

    @Option(help: "Simulated machines (each registers, heartbeats and holds a long-poll).")
    var machines = 10_000
    @Option(help: "Instances created before the measured window.")
    var instances = 100_000
    @Option(help: "Seconds measured.")
    var duration = 120
    @Option(help: "Seconds between full passes (the coordinator's reconcileFullPassIntervalSeconds).")
    var fullPassInterval = 30
    @Option(help: "Creates in flight while seeding.")
    var concurrency = 32
    @Option(help: "Create loops during the measured window.")
    var probes = 2
    @Option(help: "Milliseconds each create loop pauses between creates during the measured window.")
    var probePause = 100
    @Option(help: """
        Heartbeat interval in seconds (the coordinator is configured with the same). 60 by default: with 10,000 \
        machines at 10 s (1,000 heartbeats/s) the coordinator on 2 cores accepts only ~14 creates/s beside them, too \
        few to create 100,000 instances in a run (bench-results.md).
        """)
    var interval = 60
    @OptionGroup var coordinatorOptions: CoordinatorOptions

    func validate() throws {
        guard (1...30_000).contains(machines) else { throw ValidationError("--machines must be from 1 to 30000") }
        guard (1...1_000_000).contains(instances) else { throw ValidationError("--instances must be from 1 to 1000000") }
        guard duration >= 10, fullPassInterval >= 1, concurrency >= 1, probes >= 1, probePause >= 0, interval >= 1 else {
            throw ValidationError("--duration must be at least 10; --full-pass-interval, --concurrency, --probes and --interval positive")
        }
    }

    func run() async throws {
        let fileLimit = FileLimit.raise(to: machines * 3 + 4096)
        guard fileLimit > machines + concurrency + 1024 else {
            throw ValidationError("RLIMIT_NOFILE is \(fileLimit): too low for \(machines) machines (ulimit -n \(machines * 2 + 2048))")
        }
        let registry = CleanupRegistry()
        let signalSources = registry.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }
        let options = RunOptions(
            agents: machines, interval: interval, duration: duration, concurrency: concurrency, saturationDuration: 0,
            wakeSamples: 0, wakeBudget: 1, pollWait: 30, rampRate: 1000,
            heartbeatConnections: min(max(machines, concurrency), max(concurrency, (fileLimit - machines - 1024) / 2)), heartbeatsDuringWake: true)
        let coordinatorPath = coordinatorOptions.coordinatorPath
        print("""
            zedge-bench reconciler: \(instances) instances on \(machines) machines (heartbeat every \(interval) s), a full pass \
            every \(fullPassInterval) s; \(duration) s measured with \(probes) create loop(s) pausing \(probePause) ms; \
            coordinator on \(coordinatorOptions.storeName); \
            \(ProcessInfo.processInfo.activeProcessorCount) CPUs
            """)
        fflush(nil)
        let results: ReconcilerRun.Results
        do {
            let server = try await BenchServer.start(
                .zedge, executable: coordinatorPath, heartbeatInterval: interval, databaseURL: coordinatorOptions.database, registry: registry,
                environment: ["ZEDGE_RECONCILE_FULL_PASS_INTERVAL_SECONDS": String(fullPassInterval)])
            FileHandle.standardError.write(Data("[zedge] server pid \(server.pid) on \(server.baseURL)\n".utf8))
            results = try await server.serving(as: "zedge") {
                try await ReconcilerRun(
                    creates: CreateRun(fleet: FleetRun(server: server, options: options), duration: duration, warmup: 0, tenants: 1),
                    instances: instances, duration: duration, probeConcurrency: probes, probePause: .milliseconds(probePause)).run()
            }
        } catch {
            registry.cleanUpNow()
            throw error
        }
        registry.cleanUpNow()
        print("")
        print(Self.table(results))
        print("""

            during/none: the p99 of requests in flight while a pass of that kind ran over the p99 of those while none \
            ran, in the same window. A pass's time is the whole pass (instances, lost outcomes, orphans, disk \
            attachments, CloudBox bindings), as the coordinator reports it.
            """)
    }

    static func table(_ r: ReconcilerRun.Results) -> String {
        func f(_ value: Double?, _ places: Int) -> String { ResultsTable.format(value, places: places) }
        var cells = [["phase", "figure", "value", "during/none"]]
        cells.append(["setup", "machines registered", String(r.machines), ""])
        cells.append(["setup", "long-polls held", String(r.held), ""])
        cells.append(["setup", "instances created", String(r.seeded), ""])
        cells.append(["setup", "creates/s while seeding", f(r.seedPerSecond, 1), ""])
        cells.append(["setup", "seconds to every instance RUNNING and reported", f(r.settledSeconds, 1), ""])
        for full in [true, false] {
            let kind = full ? "full passes" : "incremental passes"
            let passes = r.passes.filter { $0.full == full }
            let seconds = passes.map(\.seconds), read = passes.map(\.instancesRead)
            func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
            cells.append([kind, "passes in the window", String(passes.count), ""])
            cells.append([kind, "wall time, mean ms", f(mean(seconds).map { $0 * 1000 }, 1), ""])
            cells.append([kind, "wall time, max ms", f(seconds.max().map { $0 * 1000 }, 1), ""])
            cells.append([kind, "instances read per pass, mean", f(mean(read), 0), ""])
            cells.append([kind, "instances read per pass, max", f(read.max(), 0), ""])
        }
        let busy = r.passes.map(\.seconds).reduce(0, +)
        cells.append(["passes", "share of the window a pass ran", f(r.windowSeconds > 0 ? busy / r.windowSeconds : nil, 3), ""])
        for (name, split) in [("heartbeats", r.heartbeats), ("creates", r.creates)] {
            guard let split else { continue }
            let baseline = split.none.percentile(0.99)
            for (during, samples) in [("no pass", split.none), ("an incremental pass", split.incremental), ("a full pass", split.full)] {
                let p99 = samples.percentile(0.99)
                let ratio = during == "no pass" ? "" : ResultsTable.ratio(p99, baseline)
                cells.append([name, "during \(during): requests", String(samples.count), ""])
                cells.append([name, "during \(during): p50 ms", f(samples.percentile(0.5), 2), ""])
                cells.append([name, "during \(during): p99 ms", f(p99, 2), ratio])
            }
        }
        if let usage = r.usage {
            cells.append(["measured window", "server CPU, % of one core", f(usage.serverCPUPercent, 1), ""])
            cells.append(["measured window", "harness CPU, % of one core", f(usage.harnessCPUPercent, 1), ""])
            cells.append(["measured window", "server peak RSS, MiB (VmHWM)", f(usage.serverPeakResidentMiB, 1), ""])
        }
        let notes = r.errors.map { "\($0.0) errors: \($0.1)" }
        return (ResultsTable.layout(cells) + (notes.isEmpty ? [] : [""] + notes)).joined(separator: "\n")
    }
}
