import Foundation

/// Registered machines brought up as real agents run them, for the harnesses that create instances on them.
extension FleetRun {
    /// Each machine holds a long-poll and runs the tasks it is given (`hosted` keeps the domains of its `vm.create`s),
    /// and heartbeats every interval listing those domains (latencies into `heartbeats`, each with its send time).
    /// The long-polls open at `rampRate` per second. The loops run in `group` until it is cancelled.
    ///
    /// Returns the long-polls held once every machine has heartbeated once (placement takes only live machines) and
    /// holds its long-poll, or 60 s after the first interval if some never do.
    func host(
        _ wire: AgentWire, _ machines: SimulatedFleet, hosted: HostedVms, board: WakeBoard, errors: ErrorTally,
        heartbeats: LatencySamples, in group: inout ThrowingTaskGroup<Void, Error>
    ) async throws -> Int {
        let start = ContinuousClock.now
        let options = self.options
        for agent in machines.agents {
            group.addTask {
                try await Task.sleep(until: start + .seconds(Double(agent.index) / Double(options.rampRate)))
                await pollLoop(wire, agent, firstWait: Int.random(in: max(1, options.pollWait / 2)...options.pollWait),
                               board: board, errors: errors) { agent, task in hosted.ran(task, on: agent.index) }
            }
            group.addTask {
                await heartbeatLoop(
                    wire, agent, phase: (Double(agent.index) + 0.5) / Double(machines.count), start: start, measured: start,
                    end: start + .seconds(24 * 3600), interval: .seconds(options.interval), latencies: heartbeats,
                    answered: nil, errors: errors) { hosted.heartbeat($0.index) }
            }
        }
        let ready = start + .seconds(options.interval) + .seconds(1)
        let deadline = ready + .seconds(60)
        while ContinuousClock.now < ready || board.held < machines.count {
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        return board.held
    }
}
