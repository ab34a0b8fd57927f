import ArgumentParser
import Foundation

/// `zedge-bench replicas`: long-poll wake across two coordinator replicas sharing one PostgreSQL database (issue
/// #14, item 7), against the wake within one replica in the same run: the ceiling here is the replica's own
/// in-process wake.
struct ReplicasBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicas",
        abstract: "Long-poll wake across two coordinator replicas on one PostgreSQL database.",
        discussion: """
            Starts two coordinators on --database (an empty PostgreSQL database, e.g. scripts/with-postgres.sh's \
            $ZEDGE_TEST_POSTGRES_URL), registers the agents through the first, and has half of them heartbeat and \
            hold their long-polls on each. Wake samples alternate: a task enqueued through the agent's own replica, \
            then one through the other (its row, then NOTIFY to the agent's replica).
            """)

    @Option(help: "Simulated agents, split evenly between the two replicas.")
    var agents = 10_000
    @Option(help: "The PostgreSQL database both replicas use (empty).")
    var database: String
    @Option(help: "Wake samples, half within a replica and half across.")
    var wakeSamples = 2000
    @Option(help: "The most seconds spent sampling.")
    var wakeBudget = 300
    @Option(help: "Heartbeat interval in seconds (the coordinators are configured with the same).")
    var interval = 10
    @Option(help: "The long-poll's wait, seconds (as the agent: 30).")
    var pollWait = 30
    @Option(help: "Long-polls opened per second while the agents come up.")
    var rampRate = 250
    @Option(help: "Registrations in flight.")
    var concurrency = 32
    @Option(help: "The zedge-coordinator binary (default: the one beside zedge-bench).")
    var coordinator: String?

    func validate() throws {
        guard (2...30_000).contains(agents) else { throw ValidationError("--agents must be from 2 to 30000") }
        guard database.hasPrefix("postgres") else { throw ValidationError("--database must be a postgres:// URL: replicas share PostgreSQL") }
        guard wakeSamples >= 2, wakeBudget >= 1, interval >= 1, rampRate >= 1, concurrency >= 1 else {
            throw ValidationError("--wake-samples must be at least 2; --wake-budget, --interval, --ramp-rate and --concurrency positive")
        }
        guard (1...60).contains(pollWait) else { throw ValidationError("--poll-wait must be from 1 to 60") }
    }

    func run() async throws {
        let fileLimit = FileLimit.raise(to: agents * 3 + 4096)
        guard fileLimit > agents + concurrency + 1024 else {
            throw ValidationError("RLIMIT_NOFILE is \(fileLimit): too low for \(agents) agents (ulimit -n \(agents * 2 + 2048))")
        }
        let registry = CleanupRegistry()
        let signalSources = registry.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }
        // The harness holds every long-poll and two heartbeat pools; each replica half the polls and one pool.
        let options = RunOptions(
            agents: agents, interval: interval, duration: 0, concurrency: concurrency, saturationDuration: 0,
            wakeSamples: wakeSamples, wakeBudget: wakeBudget, pollWait: pollWait, rampRate: rampRate,
            heartbeatConnections: max(concurrency, min(agents / 2, (fileLimit - agents - 1024) / 4)), heartbeatsDuringWake: true)
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let coordinatorPath = coordinator ?? own.deletingLastPathComponent().appendingPathComponent("zedge-coordinator").path
        print("""
            zedge-bench replicas: \(agents) agents (heartbeat every \(interval) s) split over two coordinators on one \
            PostgreSQL database; \(wakeSamples) wake samples; \(ProcessInfo.processInfo.activeProcessorCount) CPUs
            """)
        fflush(nil)
        let results: ReplicaWakeRun.Results
        var servers: [BenchServer] = []
        do {
            for replica in 0..<2 {
                // One after the other: the first creates the schema.
                let server = try await BenchServer.start(
                    .zedge, executable: coordinatorPath, heartbeatInterval: interval, databaseURL: database, registry: registry)
                FileHandle.standardError.write(Data("[replica \(replica)] server pid \(server.pid) on \(server.baseURL)\n".utf8))
                servers.append(server)
            }
            results = try await ReplicaWakeRun(servers: servers, options: options).run()
        } catch {
            for (replica, server) in servers.enumerated() { server.writeStderrTail(as: "replica \(replica)") }
            for server in servers { await server.stop() }
            registry.cleanUpNow()
            throw error
        }
        for server in servers { await server.stop() }
        registry.cleanUpNow()
        print("")
        print(Self.table(results))
        print("""

            across/within: the wake through the other replica (its row, then NOTIFY) over the wake through the agent's \
            own replica, in the same run. A wake is enqueue request sent → the agent's long-poll answered, on this machine.
            """)
    }

    static func table(_ r: ReplicaWakeRun.Results) -> String {
        func f(_ value: Double?, _ places: Int) -> String { ResultsTable.format(value, places: places) }
        var cells = [["phase", "figure", "within a replica", "across replicas", "across/within"]]
        cells.append(["setup", "agents registered", String(r.registered), "", ""])
        cells.append(["setup", "long-polls held (both replicas)", String(r.held), "", ""])
        cells.append(["wake", "samples (misses)", "\(r.within.count) (\(r.withinMisses.total))", "\(r.across.count) (\(r.acrossMisses.total))", ""])
        for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
            let within = r.within.percentile(p), across = r.across.percentile(p)
            cells.append(["wake", "\(name), ms", f(within, 2), f(across, 2), ResultsTable.ratio(across, within)])
        }
        cells.append(["wake", "enqueue p50, ms (both)", f(r.enqueue.percentile(0.5), 2), "", ""])
        for (replica, usage) in r.usage.enumerated() {
            cells.append(["sampling", "replica \(replica) CPU, % of one core", f(usage.serverCPUPercent, 1), "", ""])
            cells.append(["sampling", "replica \(replica) peak RSS, MiB (VmHWM)", f(usage.serverPeakResidentMiB, 1), "", ""])
        }
        if let usage = r.usage.first {
            cells.append(["sampling", "harness CPU, % of one core", f(usage.harnessCPUPercent, 1), "", ""])
            cells.append(["sampling", "other processes' CPU (PostgreSQL), % of one core", f(usage.otherCPUPercent, 1), "", ""])
        }
        var notes: [String] = []
        if let summary = r.withinMisses.summary { notes.append("within misses: \(summary)") }
        if let summary = r.acrossMisses.summary { notes.append("across misses: \(summary)") }
        if let summary = r.agentErrors.summary { notes.append("agent errors: \(summary)") }
        return (ResultsTable.layout(cells) + (notes.isEmpty ? [] : [""] + notes)).joined(separator: "\n")
    }
}
