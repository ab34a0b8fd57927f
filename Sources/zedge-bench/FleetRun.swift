import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ZedgeCore

/// The phases against one server under test, in order: register the fleet, sustained heartbeats, the
/// closed-loop saturation run, then the long-poll wake latency with every agent holding a long-poll.
struct FleetRun: Sendable {
    let server: BenchServer
    let options: RunOptions

    /// What the phases need from setup: the admin's authorization (enqueues) and enrollment tokens.
    struct Setup: Sendable {
        var adminAuthorization: String
        /// One token per 10,000 agents (the coordinator's limit on uses).
        var enrollmentTokens: [String]
    }

    func run() async throws -> TargetResults {
        try await withWire(phases)
    }

    /// Opens the harness's clients to the server, runs `phases` over them, stopped at once if the server dies under
    /// them, and closes the clients.
    func withWire<T: Sendable>(_ phases: @escaping @Sendable (AgentWire) async throws -> T) async throws -> T {
        let wire = try AgentWire(
            baseURL: server.baseURL, caPEM: server.caPEM, agents: options.agents, concurrency: options.concurrency,
            heartbeatConnections: options.heartbeatConnections)
        do {
            let results = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await phases(wire) }
                group.addTask { try await server.watch() }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let results = first else { throw CancellationError() }
                return results
            }
            await wire.shutdown()
            return results
        } catch {
            await wire.shutdown()
            throw error
        }
    }

    func phases(_ wire: AgentWire) async throws -> TargetResults {
        var results = TargetResults()
        let setup = try await prepare(wire)
        log("registering \(options.agents) agents (\(options.concurrency) at a time)")
        let fleet: SimulatedFleet
        (fleet, results.registration) = try await register(wire, setup)
        guard fleet.count > 0 else { throw BenchError("no agent registered: \(results.registration.errorSummary ?? "?")") }
        log("sustained heartbeats: \(fleet.count) agents every \(options.interval) s, \(options.interval) s warm-up, \(options.duration) s measured")
        results.sustained = try await sustainedHeartbeats(wire, fleet)
        log("saturation: closed loop, \(options.concurrency) in flight, \(options.saturationDuration) s")
        results.saturation = try await saturation(wire, fleet)
        log("long-poll wake: \(fleet.count) long-polls held, \(options.wakeSamples) samples")
        results.wake = try await wakeLatency(wire, fleet, setup)
        return results
    }

    func log(_ message: String) {
        FileHandle.standardError.write(Data("[\(server.kind.rawValue)] \(message)\n".utf8))
    }

    // MARK: Setup

    private struct Login: Encodable { var username: String; var password: String }
    private struct Token: Decodable { var accessToken: String }
    private struct Named: Encodable { var name: String; var location: String?; var edgeDataCenterId: UUID? }
    private struct Identified: Decodable { var id: UUID }
    private struct EnrollmentBody: Encodable {
        var edgeDataCenterId: UUID
        var resourcePoolId: UUID
        var kind: EnrollmentKind
        var uses: Int
    }
    private struct Enrollment: Decodable { var token: String }

    /// The coordinator: log in as the bootstrap admin; make a data center, a pool and counted enrollment
    /// tokens (as an operator would). The bare server accepts anything.
    func prepare(_ wire: AgentWire) async throws -> Setup {
        let tokensNeeded = (options.agents + 9_999) / 10_000
        guard server.kind == .zedge else {
            return Setup(adminAuthorization: "Bearer bare-admin", enrollmentTokens: Array(repeating: "zet_bare_token", count: tokensNeeded))
        }
        let admin = try await login(wire)
        let center = try await wire.json(
            wire.admin, .POST, "/api/v1/edge-data-centers", authorization: admin,
            body: Named(name: "bench-edge", location: "bench"), expecting: 201, as: Identified.self)
        let pool = try await wire.json(
            wire.admin, .POST, "/api/v1/resource-pools", authorization: admin,
            body: Named(name: "bench-pool", edgeDataCenterId: center.id), expecting: 201, as: Identified.self)
        var tokens: [String] = []
        for chunk in 0..<tokensNeeded {
            let uses = min(10_000, options.agents - chunk * 10_000)
            tokens.append(try await wire.json(
                wire.admin, .POST, "/api/v1/enrollment-tokens", authorization: admin,
                body: EnrollmentBody(edgeDataCenterId: center.id, resourcePoolId: pool.id, kind: .computeMachine, uses: uses),
                expecting: 201, as: Enrollment.self).token)
        }
        return Setup(adminAuthorization: admin, enrollmentTokens: tokens)
    }

    /// The bootstrap admin's authorization (`Bearer …`) on the server `wire` speaks to: each replica signs its own
    /// access tokens.
    func login(_ wire: AgentWire) async throws -> String {
        let login = try await wire.json(
            wire.admin, .POST, "/api/v1/auth/login", authorization: nil,
            body: Login(username: "admin", password: BenchServer.adminPassword), expecting: 200, as: Token.self)
        return "Bearer \(login.accessToken)"
    }

    // MARK: (a) Registration

    /// Registers every agent through `POST /agent/v1/register`, `concurrency` at a time.
    func register(_ wire: AgentWire, _ setup: Setup) async throws -> (SimulatedFleet, TargetResults.Registration) {
        let bodies = try (0..<options.agents).map { index in
            try AgentWire.encode(RegisterRequest(
                enrollmentToken: setup.enrollmentTokens[index / 10_000], kind: .computeMachine, facts: SimulatedFleet.facts(index)))
        }
        let heartbeats = try (0..<options.agents).map { try SimulatedFleet.heartbeatBody($0) }
        let next = Counter()
        let errors = ErrorTally()
        let meter = try PhaseUsage.Meter(pid: server.pid)
        let start = ContinuousClock.now
        let agents = await withTaskGroup(of: [SimulatedFleet.Agent].self) { group in
            for _ in 0..<min(options.concurrency, options.agents) {
                group.addTask {
                    var mine: [SimulatedFleet.Agent] = []
                    while !Task.isCancelled {
                        let index = next.next()
                        guard index < bodies.count else { break }
                        do {
                            let (status, answer) = try await wire.send(
                                wire.admin, .POST, "/agent/v1/register", authorization: nil, body: bodies[index])
                            guard status == 201 else {
                                errors.record(status: status)
                                continue
                            }
                            let registered = try AgentWire.decode(RegisterResponse.self, from: answer)
                            guard let machineId = registered.machineId else {
                                errors.record("no machineId")
                                continue
                            }
                            mine.append(.init(index: index, machineId: machineId,
                                              authorization: "Bearer \(registered.credential)", heartbeat: heartbeats[index]))
                        } catch {
                            errors.record(error: error)
                        }
                    }
                    return mine
                }
            }
            var all: [SimulatedFleet.Agent] = []
            for await some in group { all += some }
            return all
        }
        let elapsed = ContinuousClock.now - start
        let usage = try meter.finish()
        // Indices 0..<count, in order, whatever the registration order was.
        var ordered = agents.sorted { $0.index < $1.index }
        for position in ordered.indices { ordered[position].index = position }
        return (SimulatedFleet(agents: ordered), .init(
            registered: ordered.count, perSecond: Double(ordered.count) / elapsed.seconds, errors: errors.total,
            errorSummary: errors.summary, usage: usage))
    }
}
