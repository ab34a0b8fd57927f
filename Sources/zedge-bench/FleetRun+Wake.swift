import AsyncHTTPClient
import Foundation
import NIOCore
import ZedgeCore

/// (c) Long-poll wake latency: every agent holds `GET /agent/v1/tasks?wait=…` (re-polling at once when it
/// answers, as the agent does), while the harness enqueues one task at a time for a random agent and times
/// enqueue-request-sent → that agent's long-poll answered with the task.
extension FleetRun {
    private struct TaskBody: Encodable {
        var kind: TaskKind
        var payload: JSONValue
        var maxAttempts: Int
    }

    private struct Queued: Decodable {
        struct Ref: Decodable { var id: UUID }
        var task: Ref
    }

    private struct Result: Encodable {
        var outcome: TaskOutcome
        var observed: JSONValue?
    }

    func wakeLatency(_ wire: AgentWire, _ fleet: SimulatedFleet, _ setup: Setup) async throws -> TargetResults.Wake {
        let board = WakeBoard(agents: fleet.count)
        let pollErrors = ErrorTally()
        let heartbeatErrors = ErrorTally()
        let misses = ErrorTally()
        let wake = LatencySamples()
        let enqueue = LatencySamples()
        var result = TargetResults.Wake()
        let pollWait = options.pollWait, rampRate = Double(max(1, options.rampRate))
        // Connections to the server already open (the heartbeat and admin pools keep theirs).
        let baseline = ProcFS.establishedConnections(toPort: server.port)
        result.residentBeforePollsKiB = try ProcFS.sample(server.pid).residentKiB
        try await withThrowingTaskGroup(of: Void.self) { group in
            let rampStart = ContinuousClock.now
            for agent in fleet.agents {
                group.addTask {
                    // Agents come up over the ramp; their first waits are spread so that they do not all
                    // time out and re-poll together.
                    try await Task.sleep(until: rampStart + .seconds(Double(agent.index) / rampRate))
                    await pollLoop(wire, agent, firstWait: Int.random(in: max(1, pollWait / 2)...pollWait), board: board, errors: pollErrors)
                }
                if options.heartbeatsDuringWake {
                    group.addTask {
                        await heartbeatLoop(wire, agent, phase: (Double(agent.index) + 0.5) / Double(fleet.count), start: rampStart, measured: rampStart, end: rampStart + .seconds(24 * 3600),
                                            interval: .seconds(options.interval), latencies: LatencySamples(), answered: nil,
                                            errors: heartbeatErrors)
                    }
                }
            }

            // All long-polls out and their connections established, then a moment for the server to take them.
            let deadline = ContinuousClock.now + .seconds(60 + 2 * Double(fleet.count) / rampRate)
            var established = 0
            while ContinuousClock.now < deadline {
                established = ProcFS.establishedConnections(toPort: server.port) - baseline
                if board.held >= fleet.count, established >= fleet.count { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            try await Task.sleep(for: .seconds(2))
            result.held = min(board.held, established)
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
            log("\(board.held) long-polls out, \(established) new connections established, \(descriptors) descriptors open; sampling")

            let meter = try PhaseUsage.Meter(pid: server.pid)
            let budget = ContinuousClock.now + .seconds(options.wakeBudget)
            for sample in 0..<options.wakeSamples {
                guard ContinuousClock.now < budget else {
                    misses.record("sampling stopped after \(options.wakeBudget) s", count: options.wakeSamples - sample)
                    break
                }
                guard let index = board.pickHeld(olderThan: .milliseconds(50)) else {
                    try await Task.sleep(for: .milliseconds(10))
                    continue
                }
                guard try await sampleWake(wire, admin: setup.adminAuthorization, agent: fleet.agents[index], sample: sample,
                                           board: board, wake: wake, enqueue: enqueue, misses: misses) else { continue }
                result.samples += 1
                try await Task.sleep(for: .milliseconds(20))  // the agent reports its result and polls again
            }
            result.usage = try meter.finish()
            result.newConnections = ProcFS.establishedConnections(toPort: server.port) - baseline
            group.cancelAll()
        }
        result.misses = misses.total
        result.missSummary = misses.summary
        result.p50 = wake.percentile(0.5)
        result.p99 = wake.percentile(0.99)
        // Each wake as "sent-at-seconds-since-1970 milliseconds" lines, to find when the slow ones happened.
        if let path = options.wakeLatenciesPath {
            let lines = wake.all.map { String(format: "%.6f %.3f\n", $0.sentAt, $0.milliseconds) }.joined()
            FileManager.default.createFile(atPath: "\(path).\(server.kind.rawValue)", contents: Data(lines.utf8))
        }
        result.enqueueP50 = enqueue.percentile(0.5)
        result.pollErrors = pollErrors.total
        result.pollErrorSummary = pollErrors.summary
        result.heartbeatErrors = heartbeatErrors.total
        return result
    }

    /// One wake sample: enqueues a task through `wire` (as `admin`) for `agent`, whose long-poll the board says is
    /// held, and waits up to 10 s for that poll to answer with it. The wake (enqueue sent → the poll's answer) goes
    /// into `wake`, the enqueue's own latency into `enqueue`; a miss is counted in `misses` and returns false.
    func sampleWake(
        _ wire: AgentWire, admin: String, agent: SimulatedFleet.Agent, sample: Int, board: WakeBoard,
        wake: LatencySamples, enqueue: LatencySamples, misses: ErrorTally
    ) async throws -> Bool {
        let index = agent.index
        board.expect(index)
        let body = try AgentWire.encode(TaskBody(
            kind: .vmStart, payload: ["vmUuid": .string(UUID().uuidString.lowercased()), "vmName": .string("vm-\(index)-\(sample)")],
            maxAttempts: 5))
        let sent = ContinuousClock.now, sentAt = Date()
        let taskId: UUID
        do {
            let (status, answer) = try await wire.send(
                wire.admin, .POST, "/api/v1/compute-machines/\(agent.machineId)/tasks", authorization: admin, body: body)
            enqueue.add(ContinuousClock.now - sent, sentAt: sentAt)
            guard status == 202 else {
                misses.record("enqueue HTTP \(status)")
                board.forget(index)
                return false
            }
            taskId = try AgentWire.decode(Queued.self, from: answer).task.id
        } catch {
            misses.record("enqueue: \(error)")
            board.forget(index)
            return false
        }
        guard let arrival = await board.arrival(index, timeout: .seconds(10)) else {
            misses.record("not woken within 10 s")
            return false
        }
        guard arrival.taskIds.contains(taskId) else {
            misses.record("woken with another task")
            return false
        }
        wake.add(arrival.at - sent, sentAt: sentAt)
        return true
    }

    /// An agent's task loop: long-poll; for each task received, report it done with what `observe` says the
    /// task left behind (by default a running domain); poll again.
    func pollLoop(
        _ wire: AgentWire, _ agent: SimulatedFleet.Agent, firstWait: Int, board: WakeBoard, errors: ErrorTally,
        observe: @Sendable (SimulatedFleet.Agent, PolledTask) -> JSONValue? = { _, _ in ["state": "RUNNING"] }
    ) async {
        var wait = firstWait
        while !Task.isCancelled {
            board.polling(agent.index)
            do {
                let (status, answer) = try await wire.send(
                    wire.polls, .GET, "/agent/v1/tasks?wait=\(wait)", authorization: agent.authorization,
                    timeout: .seconds(Int64(wait + 15)))
                let received = ContinuousClock.now
                board.answered(agent.index)
                guard status == 200 else {
                    errors.record(status: status)
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                let tasks = try AgentWire.decode(PolledTask.Answer.self, from: answer).tasks
                if !tasks.isEmpty {
                    board.arrived(agent.index, taskIds: tasks.map(\.id), at: received)
                    for task in tasks {
                        let (status, _) = try await wire.send(
                            wire.heartbeats, .POST, "/agent/v1/tasks/\(task.id)/result", authorization: agent.authorization,
                            body: try AgentWire.encode(Result(outcome: .succeeded, observed: observe(agent, task))))
                        if status != 204 { errors.record("result HTTP \(status)") }
                    }
                }
            } catch {
                board.answered(agent.index)
                if Task.isCancelled { return }
                errors.record(error: error)
                try? await Task.sleep(for: .seconds(1))
            }
            wait = options.pollWait
        }
    }
}
