import ArgumentParser
import Foundation
import ZedgeCore

/// `zedge-bench creates`: instance creates through the API (`POST /api/v1/instances`, closed loop) against a
/// real coordinator whose simulated machines hold long-polls, run the `vm.create` tasks they are given and
/// report the new domains in their heartbeats; then the same against the bare Hummingbird ceiling (which
/// decodes the create and hands a task to a held long-poll, without a database). One table with accepted
/// creates per second, latency and server CPU and memory, each with its ratio to the ceiling.
struct CreatesBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "creates",
        abstract: "Instance creates per second through the API against a fleet of simulated machines.",
        discussion: """
            Each create is the whole path: authentication, the template's resolution, the tenant's quota, \
            placement over every machine, the capacity claim (conditional UPDATE), the VM's row and its vm.create \
            task, answered 202; the machine's held long-poll then takes the task. The tenant has a quota (so that \
            the check counts its usage). Run it once with SQLite (the default) and once with \
            --database postgres://… for PostgreSQL.
            """)

    @Option(help: "Simulated machines (each registers, heartbeats and holds a long-poll).")
    var machines = 1000
    @Option(help: "Seconds of creates measured.")
    var duration = 30
    @Option(help: "Seconds of creates before the measurement (not counted).")
    var warmup = 5
    @Option(help: "Creates in flight (closed loop).")
    var concurrency = 32
    @Option(help: "Tenants the creates take turns in (a create locks its tenant's quota row: one tenant's creates commit one at a time).")
    var tenants = 1
    @Option(help: "Heartbeat interval in seconds (the coordinator is configured with the same).")
    var interval = 10
    @Option(help: "The long-poll's wait, seconds (as the agent: 30).")
    var pollWait = 30
    @Option(help: "Which servers to run against: both, zedge or bare.")
    var target: AgentsBenchmark.Target = .both
    @OptionGroup var coordinatorOptions: CoordinatorOptions

    func validate() throws {
        guard (1...30_000).contains(machines) else { throw ValidationError("--machines must be from 1 to 30000") }
        guard (1...1000).contains(tenants) else { throw ValidationError("--tenants must be from 1 to 1000") }
        guard duration >= 1, warmup >= 0, concurrency >= 1, interval >= 1 else {
            throw ValidationError("--duration, --concurrency and --interval must be positive, --warmup not negative")
        }
        guard (1...60).contains(pollWait) else { throw ValidationError("--poll-wait must be from 1 to 60") }
    }

    func run() async throws {
        let fileLimit = FileLimit.raise(to: machines * 3 + 4096)
        guard fileLimit > machines * 2 + concurrency + 1024 else {
            throw ValidationError("RLIMIT_NOFILE is \(fileLimit): too low for \(machines) machines (ulimit -n \(machines * 3 + 4096))")
        }
        let registry = CleanupRegistry()
        let signalSources = registry.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }
        let fleetOptions = RunOptions(
            agents: machines, interval: interval, duration: duration, concurrency: concurrency, saturationDuration: 0,
            wakeSamples: 0, wakeBudget: 1, pollWait: pollWait, rampRate: 1000,
            heartbeatConnections: min(machines, max(concurrency, (fileLimit - machines - 1024) / 2)), heartbeatsDuringWake: true)
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let coordinatorPath = coordinatorOptions.coordinatorPath
        let ownPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? own.path
        let store = coordinatorOptions.storeName
        print("""
            zedge-bench creates: \(machines) machines holding long-polls (heartbeat every \(interval) s), \
            \(concurrency) creates in flight for \(duration) s after \(warmup) s of warm-up, in \(tenants) tenant(s); \
            coordinator on \(store); \
            \(ProcessInfo.processInfo.activeProcessorCount) CPUs
            """)
        fflush(nil)
        var results: [BenchServer.Kind: CreateRun.Results] = [:]
        do {
            for kind in [BenchServer.Kind.zedge, .bare] where target == .both || target.rawValue == kind.rawValue {
                let server = try await BenchServer.start(
                    kind, executable: kind == .zedge ? coordinatorPath : ownPath, heartbeatInterval: interval,
                    databaseURL: kind == .zedge ? coordinatorOptions.database : nil, registry: registry)
                FileHandle.standardError.write(Data("[\(kind.rawValue)] server pid \(server.pid) on \(server.baseURL)\n".utf8))
                results[kind] = try await server.serving(as: kind.rawValue) {
                    try await CreateRun(
                        fleet: FleetRun(server: server, options: fleetOptions), duration: duration, warmup: warmup, tenants: tenants).run()
                }
            }
        } catch {
            registry.cleanUpNow()
            throw error
        }
        registry.cleanUpNow()
        print("")
        print(Self.table(zedge: results[.zedge], bare: results[.bare]))
        print("""

            zedge/bare: the coordinator's figure over the ceiling's (bare: the create decoded and its task handed \
            to a held long-poll, no database). Latency is request sent → 202 received, on this machine.
            """)
    }

    static func table(zedge: CreateRun.Results?, bare: CreateRun.Results?) -> String {
        typealias Pick = (CreateRun.Results) -> Double?
        let rows: [(String, Int, Bool, Pick)] = [
            ("machines registered", 0, false, { Double($0.machines) }),
            ("long-polls held", 0, false, { Double($0.held) }),
            ("accepted creates/s", 1, true, { $0.acceptedPerSecond }),
            ("creates accepted (measured)", 0, false, { Double($0.accepted) }),
            ("create latency p50, ms", 2, true, { $0.p50 }),
            ("create latency p99, ms", 2, true, { $0.p99 }),
            ("refused or failed", 0, false, { Double($0.errors) }),
            ("tasks run by the machines / accepted", 3, false, { $0.deliveredShare }),
            ("CPU placed per machine, % of its cores: lowest", 1, false, { $0.placedCPU?.min }),
            ("CPU placed per machine, % of its cores: median", 1, false, { $0.placedCPU?.median }),
            ("CPU placed per machine, % of its cores: highest", 1, false, { $0.placedCPU?.max }),
            ("server CPU, % of one core", 1, true, { $0.usage?.serverCPUPercent }),
            ("server CPU ms per create", 3, true, { r in r.usage.map { $0.serverCPUPercent * 10 / max(r.acceptedPerSecond, 0.001) } }),
            ("server bytes written (write calls), KiB per create", 1, true, { r in r.usage.map { Double($0.serverIO.bytesWritten) / 1024 / max(Double(r.accepted), 1) } }),
            ("server bytes read (read calls), KiB per create", 1, true, { r in r.usage.map { Double($0.serverIO.bytesRead) / 1024 / max(Double(r.accepted), 1) } }),
            ("harness CPU, % of one core", 1, false, { $0.usage?.harnessCPUPercent }),
            ("other processes' CPU, % of one core", 1, false, { $0.usage?.otherCPUPercent }),
            ("server peak RSS, MiB (VmHWM)", 1, true, { $0.usage?.serverPeakResidentMiB }),
        ]
        var cells = [["phase", "figure", "zedge", "bare", "zedge/bare"]]
        for (name, places, ratio, pick) in rows {
            let z = zedge.flatMap(pick), b = bare.flatMap(pick)
            let quotient = ratio ? ResultsTable.ratio(z, b) : ""
            cells.append(["creates", name, ResultsTable.format(z, places: places), ResultsTable.format(b, places: places), quotient])
        }
        if let writer = zedge?.writer {
            cells.append(["SQLite writer (zedge)", "acquisitions per create", String(format: "%.2f", writer.acquisitions), "", ""])
            cells.append(["SQLite writer (zedge)", "held, ms per create", String(format: "%.3f", writer.heldMs), "", ""])
            cells.append(["SQLite writer (zedge)", "handed over, ms per create", String(format: "%.3f", writer.handOverMs), "", ""])
            cells.append(["SQLite writer (zedge)", "busy (held + handed over), share of the window", String(format: "%.2f", writer.busy), "", ""])
            cells.append(["SQLite writer (zedge)", "statements per create", String(format: "%.1f", writer.statements), "", ""])
            cells.append(["SQLite writer (zedge)", "commits per create", String(format: "%.2f", writer.commits), "", ""])
            cells.append(["SQLite writer (zedge)", "WAL pages written per create", String(format: "%.1f", writer.walPages), "", ""])
        }
        for (stage, milliseconds) in zedge?.stages ?? [] {
            cells.append(["create stages (zedge, wall)", "\(stage), mean ms", String(format: "%.3f", milliseconds), "", ""])
        }
        var notes: [String] = []
        for (name, results) in [("zedge", zedge), ("bare", bare)] {
            if let summary = results?.errorSummary { notes.append("\(name) create errors: \(summary)") }
            if let summary = results?.agentErrorSummary { notes.append("\(name) agent errors: \(summary)") }
        }
        return (ResultsTable.layout(cells) + (notes.isEmpty ? [] : [""] + notes)).joined(separator: "\n")
    }
}
