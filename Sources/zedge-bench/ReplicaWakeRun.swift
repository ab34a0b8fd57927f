import Foundation
import ZedgeCore

/// `zedge-bench replicas`: two coordinator replicas on one PostgreSQL database, each holding the long-polls of half
/// the agents (agent `i` talks to replica `i % 2`, heartbeats included). Each wake sample enqueues a task for a held
/// agent through one replica or the other, in turn: through the agent's own replica the wake is that process's
/// notifier; through the other, it is the task's row, then `NOTIFY` to the agent's replica, whose listener wakes the
/// poll. Both kinds are timed the same way (enqueue sent → the poll's answer) in the same run.
struct ReplicaWakeRun: Sendable {
    let servers: [BenchServer]
    let options: RunOptions

    struct Results: Sendable {
        var registered = 0
        var held = 0
        var within = LatencySamples()
        var across = LatencySamples()
        var withinMisses = ErrorTally()
        var acrossMisses = ErrorTally()
        var enqueue = LatencySamples()
        var agentErrors = ErrorTally()
        var usage: [PhaseUsage] = []
    }

    func run() async throws -> Results {
        let wires = try servers.map { server in
            try AgentWire(baseURL: server.baseURL, caPEM: server.caPEM, agents: (options.agents + 1) / 2, concurrency: options.concurrency,
                          heartbeatConnections: options.heartbeatConnections)
        }
        do {
            let results = try await withThrowingTaskGroup(of: Results?.self) { group in
                group.addTask { try await phases(wires) }
                for server in servers { group.addTask { try await server.watch() } }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let results = first else { throw CancellationError() }
                return results
            }
            for wire in wires { await wire.shutdown() }
            return results
        } catch {
            for wire in wires { await wire.shutdown() }
            throw error
        }
    }

    func phases(_ wires: [AgentWire]) async throws -> Results {
        var results = Results()
        // Setup and registration through the first replica (one database: the second sees them); each replica signs
        // its own access tokens, so the admin logs in to both.
        let first = FleetRun(server: servers[0], options: options)
        let setup = try await first.prepare(wires[0])
        let admins = [setup.adminAuthorization, try await first.login(wires[1])]
        first.log("registering \(options.agents) agents")
        let (fleet, registration) = try await first.register(wires[0], setup)
        guard fleet.count == options.agents else {
            throw BenchError("\(fleet.count) of \(options.agents) agents registered: \(registration.errorSummary ?? "?")")
        }
        results.registered = fleet.count
        let board = WakeBoard(agents: fleet.count)
        let errors = results.agentErrors
        let rampRate = Double(max(1, options.rampRate)), pollWait = options.pollWait
        try await withThrowingTaskGroup(of: Void.self) { group in
            let start = ContinuousClock.now
            for agent in fleet.agents {
                let wire = wires[agent.index % 2]
                group.addTask {
                    try await Task.sleep(until: start + .seconds(Double(agent.index) / rampRate))
                    await first.pollLoop(wire, agent, firstWait: Int.random(in: max(1, pollWait / 2)...pollWait), board: board, errors: errors)
                }
                group.addTask {
                    await first.heartbeatLoop(
                        wire, agent, phase: (Double(agent.index) + 0.5) / Double(fleet.count), start: start, measured: start,
                        end: start + .seconds(24 * 3600), interval: .seconds(options.interval), latencies: LatencySamples(),
                        answered: nil, errors: errors)
                }
            }
            let deadline = start + .seconds(60 + 2 * Double(fleet.count) / rampRate)
            while board.held < fleet.count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(250)) }
            try await Task.sleep(for: .seconds(2))
            results.held = board.held
            first.log("\(board.held) long-polls held across both replicas; \(options.wakeSamples) wake samples, alternately within and across")

            let meters = try servers.map { try PhaseUsage.Meter(pid: $0.pid) }
            let budget = ContinuousClock.now + .seconds(options.wakeBudget)
            for sample in 0..<options.wakeSamples {
                let across = sample % 2 == 1
                guard ContinuousClock.now < budget else {
                    results.withinMisses.record("sampling stopped after \(options.wakeBudget) s", count: (options.wakeSamples - sample + 1) / 2)
                    break
                }
                guard let index = board.pickHeld(olderThan: .milliseconds(50)) else {
                    try await Task.sleep(for: .milliseconds(10))
                    continue
                }
                let via = across ? 1 - index % 2 : index % 2
                _ = try await first.sampleWake(
                    wires[via], admin: admins[via], agent: fleet.agents[index], sample: sample, board: board,
                    wake: across ? results.across : results.within, enqueue: results.enqueue,
                    misses: across ? results.acrossMisses : results.withinMisses)
                try await Task.sleep(for: .milliseconds(20))  // the agent reports its result and polls again
            }
            results.usage = try meters.map { try $0.finish() }
            group.cancelAll()
        }
        return results
    }
}
