import ArgumentParser
import Foundation
import ZedgeCore

/// `zedge-bench agents` (the default): N simulated agents speaking the real protocol over HTTPS, first
/// against a real `zedge-coordinator serve`, then against the bare Hummingbird ceiling on the same
/// machine; one table with every figure and its ratio to the ceiling.
struct AgentsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Simulated agents against a real coordinator and against a bare Hummingbird ceiling.",
        discussion: """
            Phases: (a) register the agents; (b) sustained heartbeats on the interval, then a closed-loop \
            saturation run; (c) every agent holds a long-poll while tasks are enqueued one at a time for random \
            agents (wake latency = enqueue request sent → that agent's long-poll answered). Server CPU comes from \
            /proc/PID/stat (utime+stime, % of one core over each phase), memory from /proc/PID/status.
            Use --agents 10000 for the large run.
            """)

    enum Target: String, CaseIterable, ExpressibleByArgument {
        case both, zedge, bare
    }

    @Option(help: "Simulated agents (1000 by default; 10000 for the large run).")
    var agents = 1000
    @Option(help: "Seconds of sustained heartbeats measured (after one interval of warm-up).")
    var duration = 60
    @Option(help: "Heartbeat interval in seconds (the coordinator is configured with the same).")
    var interval = 10
    @Option(help: "Requests in flight during registration and the closed-loop saturation run.")
    var concurrency = 64
    @Option(help: "Seconds of the closed-loop saturation run.")
    var saturationDuration = 10
    @Option(help: "Wake-latency samples, one enqueue at a time.")
    var wakeSamples = 300
    @Option(help: "The most seconds spent taking wake samples; the rest count as misses.")
    var wakeBudget = 120
    @Option(help: "The long-poll's wait, seconds (as the agent: 30).")
    var pollWait = 30
    @Option(help: "Long-polls opened per second while the fleet comes up.")
    var rampRate = 1000
    @Flag(inversion: .prefixedNo, help: "Keep heartbeats going on their interval while the wake latency is sampled.")
    var heartbeatsDuringWake = true
    @Option(help: "Which servers to run against: both, zedge or bare.")
    var target: Target = .both
    @Option(help: "Write each wake sample to PATH.zedge / PATH.bare: a line per sample, when it was sent (seconds since 1970) and its latency (ms).")
    var wakeLatencies: String?
    @OptionGroup var coordinatorOptions: CoordinatorOptions

    func validate() throws {
        guard agents >= 1, agents <= 100_000 else { throw ValidationError("--agents must be from 1 to 100000") }
        guard duration >= 1, interval >= 1, saturationDuration >= 1, concurrency >= 1, rampRate >= 1 else {
            throw ValidationError("--duration, --interval, --saturation-duration, --concurrency and --ramp-rate must be positive")
        }
        guard (1...60).contains(pollWait) else { throw ValidationError("--poll-wait must be from 1 to 60") }
        guard wakeSamples >= 0, wakeBudget >= 1 else { throw ValidationError("--wake-samples must not be negative, --wake-budget positive") }
    }

    func run() async throws {
        let fileLimit = FileLimit.raise(to: agents * 3 + 4096)
        let registry = CleanupRegistry()
        let signalSources = registry.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }
        // Long-polls take one descriptor per agent on each side; heartbeats share what is left (half of it,
        // so that the server, which also holds the other ends, keeps a margin).
        let heartbeatConnections = min(max(agents, concurrency), max(concurrency, (fileLimit - agents - 1024) / 2))
        guard fileLimit > agents + concurrency + 1024 else {
            throw ValidationError("RLIMIT_NOFILE is \(fileLimit): too low for \(agents) agents (ulimit -n \(agents * 2 + 2048))")
        }
        let options = RunOptions(
            agents: agents, interval: interval, duration: duration, concurrency: concurrency,
            saturationDuration: saturationDuration, wakeSamples: wakeSamples, wakeBudget: wakeBudget, pollWait: pollWait,
            rampRate: rampRate,
            heartbeatConnections: heartbeatConnections, heartbeatsDuringWake: heartbeatsDuringWake, wakeLatenciesPath: wakeLatencies)
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let coordinatorPath = coordinatorOptions.coordinatorPath
        let ownPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? own.path

        print("""
            zedge-bench agents: \(agents) agents, heartbeat every \(interval) s for \(duration) s, \
            saturation \(concurrency) in flight for \(saturationDuration) s, \(wakeSamples) wake samples \
            (long-poll wait \(pollWait) s\(heartbeatsDuringWake ? ", heartbeats on" : "")); \
            \(ProcessInfo.processInfo.activeProcessorCount) CPUs, \
            \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; RLIMIT_NOFILE \(fileLimit), heartbeat pool \
            up to \(heartbeatConnections) connections
            """)
        fflush(nil)
        var zedgeResults: TargetResults?
        var bareResults: TargetResults?
        do {
            if target != .bare {
                zedgeResults = try await runAgainst(.zedge, executable: coordinatorPath, options: options, registry: registry)
            }
            if target != .zedge {
                bareResults = try await runAgainst(.bare, executable: ownPath, options: options, registry: registry)
            }
        } catch {
            registry.cleanUpNow()
            throw error
        }
        registry.cleanUpNow()
        print("")
        print(ResultsTable(zedge: zedgeResults, bare: bareResults, options: options).render())
        print("""

            zedge/bare: the coordinator's figure over the ceiling's; for rates under 1 is slower, for latencies, \
            CPU and memory over 1 is costlier. Server = the zedge-coordinator or bare-server child process; \
            harness = this process (same machine).
            """)
    }

    func runAgainst(_ kind: BenchServer.Kind, executable: String, options: RunOptions, registry: CleanupRegistry) async throws -> TargetResults {
        let server = try await BenchServer.start(
            kind, executable: executable, heartbeatInterval: options.interval,
            databaseURL: kind == .zedge ? coordinatorOptions.database : nil, registry: registry)
        FileHandle.standardError.write(Data("[\(kind.rawValue)] server pid \(server.pid) on \(server.baseURL)\n".utf8))
        return try await server.serving(as: kind.rawValue) {
            let results = try await FleetRun(server: server, options: options).run()
            let stderr = (try? String(contentsOfFile: "\(server.directory)/server.err", encoding: .utf8)) ?? ""
            if !stderr.isEmpty {
                let lines = stderr.split(separator: "\n")
                FileHandle.standardError.write(Data("[\(kind.rawValue)] server logged \(lines.count) lines at warning or above; the last:\n\(lines.suffix(5).joined(separator: "\n"))\n".utf8))
            }
            return results
        }
    }
}
