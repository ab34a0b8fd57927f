import Foundation
import ZedgeTestSupport
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// The coordinator kill loop (issue #12): a `zedge-coordinator serve` process is killed with SIGKILL at random
/// moments while 8 clients create and delete instances, and started again on the same port and database, with two
/// real `zedge-agent` processes (libvirt's test driver) attached. After each restart every write that was answered
/// with a 2xx is there, the consistency check passes (no claim leaks), and the agents are back by themselves. At the
/// end, every instance settles (RUNNING, or DELETED when deleted) and the check passes again.
///
/// `ZEDGE_SOAK_COORDINATOR_KILLS` kills per engine (5 in `make test`, 50 in `make soak`), on SQLite and PostgreSQL.
@Suite("Coordinator kill loop", .serialized)
struct CoordinatorSoakTests {
    typealias AgentProcess = AgentEndToEndTests.AgentProcess

    static var kills: Int { Int(ProcessInfo.processInfo.environment["ZEDGE_SOAK_COORDINATOR_KILLS"] ?? "") ?? 5 }
    static let password = "soak-admin-password"
    static let clients = 8

    /// A coordinator process on a fixed port (the agents' configured address), its data dir and database.
    final class CoordinatorProcess: @unchecked Sendable {  // Process is not Sendable; used from the test's task only.
        let process = SpawnedProcess()
        let port: Int

        init(directory: String, databaseURL: String, port: Int) async throws {
            self.port = try await ProcessRunner.startCoordinator(
                process, arguments: ["--listen", "127.0.0.1:\(port)", "--data-dir", directory, "--database", databaseURL],
                environment: ["ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": CoordinatorSoakTests.password])
        }

        /// Waits until it answers `/readyz` (its announcement can come a moment before a loaded machine lets a
        /// client connect); throws if it never does or has exited.
        func ready(_ client: APIClient) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, process.isRunning {
                if let response = try? await client.get("/readyz", token: nil), response.status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("the coordinator on port \(port) did not become ready (running: \(process.isRunning))")
        }

        func kill9() async throws {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// What the clients were told: 2xx answers only.
    struct Acknowledged: Sendable {
        var created: Set<UUID> = []
        var deleted: Set<UUID> = []
        /// Created and not (yet) deleted: what the clients may delete, whichever of them created it.
        var live: [UUID] = []
    }

    /// Shared by the clients: what was acknowledged, and whether the round is over.
    final class Board: Sendable {
        let acknowledged = Mutex(Acknowledged())
        let stopped = Mutex(false)
    }

    @Test(arguments: TestEngine.all)
    func killingTheCoordinatorLosesNoAcknowledgedWriteAndLeaksNoClaim(engine: TestEngine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-csoak-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let databaseURL = try await engine.makeDatabaseURL(in: directory)
        var coordinator = try await CoordinatorProcess(directory: directory, databaseURL: databaseURL, port: 0)
        let port = coordinator.port
        let baseURL = "https://127.0.0.1:\(port)"
        let caPEM = try String(contentsOfFile: "\(directory)/tls/ca.pem", encoding: .utf8)
        let client = try APIClient(baseURL: baseURL, caPEM: caPEM)
        defer { Task { [client] in try? await client.shutdown() } }
        var agents: [AgentProcess] = []
        defer { for agent in agents { agent.stop() } }

        try await coordinator.ready(client)
        // The world: a data center, a pool, two machines with real agents, a template, a tenant and its user.
        let admin = try await client.login("admin", Self.password).accessToken
        let center = try await client.post("/api/v1/edge-data-centers", token: admin, ["name": "soak-dc"]).decode(EdgeDataCenter.self)
        let pool = try await client.post("/api/v1/resource-pools", token: admin, ["name": "soak-pool", "edgeDataCenterId": center.id.uuidString])
            .decode(ResourcePool.self)
        let fingerprint = try TLSMaterial.fingerprint(ofPEM: caPEM)
        for index in 0..<2 {
            let token = try #require(try await client.post("/api/v1/enrollment-tokens", token: admin, [
                "edgeDataCenterId": center.id.uuidString, "resourcePoolId": pool.id.uuidString, "kind": "COMPUTE_MACHINE",
            ]).json()["token"] as? String)
            let stateDir = "\(directory)/agent-\(index)"
            let registered = try await ProcessRunner.run("zedge-agent", [
                "register", "--coordinator", baseURL, "--token", token, "--ca-hash", fingerprint, "--state-dir", stateDir,
                "--management-ip", "198.51.100.\(60 + index)", "--hostname", "soak-\(index)",
            ])
            try #require(registered.status == 0, "\(registered.stderr)")
            agents.append(try AgentProcess(stateDir: stateDir))
        }
        let template = try await client.post("/api/v1/templates", token: admin, [
            "name": "soak-tiny", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
        ]).decode(Template.self)
        let tenant = try await client.post("/api/v1/tenants", token: admin, ["name": "soak-tenant"]).decode(Tenant.self)
        let created = try await client.post("/api/v1/users", token: admin, [
            "username": "soak-user", "email": "soak@example.com", "password": "soak-user-password", "role": "TENANT_ADMIN",
            "tenantId": tenant.id.uuidString,
        ])
        try #require(created.status == 201, "\(created.text)")
        let user = try await client.login("soak-user", "soak-user-password").accessToken
        try await waitForAgents(client, admin, since: Date.distantPast)

        let board = Board()
        var writes = 0
        for round in 1...Self.kills {
            // 8 clients create and delete instances until the coordinator dies under them.
            board.stopped.withLock { $0 = false }
            let window = Int.random(in: 300...2500)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<Self.clients {
                    let templateId = template.id
                    group.addTask { [board, client, user] in
                        var done = 0
                        while !board.stopped.withLock({ $0 }) {
                            let victim: UUID? = Bool.random() ? board.acknowledged.withLock { $0.live.isEmpty ? nil : $0.live.removeFirst() } : nil
                            do {
                                if let id = victim {
                                    let response = try await client.delete("/api/v1/instances/\(id)", token: user)
                                    if response.status == 202 { board.acknowledged.withLock { _ = $0.deleted.insert(id) }; done += 1 }
                                } else {
                                    let response = try await client.post("/api/v1/instances", token: user, [
                                        "name": "c\(index)-\(round)-\(done)", "templateId": templateId.uuidString,
                                    ])
                                    if response.status == 202 {
                                        let id = try response.decode(InstanceService.Accepted.self).instance.instance.id
                                        board.acknowledged.withLock { _ = $0.created.insert(id); $0.live.append(id) }
                                        done += 1
                                    }
                                }
                            } catch {
                                try await Task.sleep(for: .milliseconds(50))  // the coordinator is down: not acknowledged
                            }
                        }
                        return done
                    }
                }
                try await Task.sleep(for: .milliseconds(window))
                try await coordinator.kill9()
                board.stopped.withLock { $0 = true }
                for try await done in group { writes += done }
            }
            let restartedAt = Date()
            coordinator = try await CoordinatorProcess(directory: directory, databaseURL: databaseURL, port: port)
            try await coordinator.ready(client)

            // Every acknowledged write is there; no claim leaked; the agents are back by themselves.
            let seen = board.acknowledged.withLock { $0 }
            for id in seen.created {
                let response = try await client.get("/api/v1/instances/\(id)", token: admin)
                #expect(response.status == 200, "round \(round): acknowledged instance \(id) is gone: \(response.text)")
                if seen.deleted.contains(id), response.status == 200 {
                    let instance = try response.decode(InstanceView.self).instance
                    #expect(instance.desiredStatus == .deleted, "round \(round): acknowledged delete of \(id) lost: \(instance.status)")
                }
            }
            let report = try await client.get("/api/v1/admin/consistency", token: admin).decode(ConsistencyReport.self)
            #expect(report.ok, "round \(round): \(report.violations)")
            try await waitForAgents(client, admin, since: restartedAt)
            print("coordinator kill loop (\(engine)): round \(round)/\(Self.kills): killed after \(window) ms; \(seen.created.count) creates, \(seen.deleted.count) deletes acknowledged so far")
        }
        #expect(writes > 0, "the clients wrote nothing")

        // The end: every instance settles, and the books balance.
        let seen = board.acknowledged.withLock { $0 }
        var unsettled: [String] = []
        let deadline = ContinuousClock.now + .seconds(300)
        repeat {
            unsettled = []
            for id in seen.created {
                let instance = try await client.get("/api/v1/instances/\(id)", token: admin).decode(InstanceView.self).instance
                let settled = instance.desiredStatus == .deleted ? instance.status == .deleted : instance.status == .running
                if !settled { unsettled.append("\(instance.name) \(instance.status.rawValue) (desired \(instance.desiredStatus.rawValue))") }
            }
            if unsettled.isEmpty { break }
            try await Task.sleep(for: .seconds(1))
        } while ContinuousClock.now < deadline
        #expect(unsettled.isEmpty, "not settled within 300 s: \(unsettled)")
        let report = try await client.get("/api/v1/admin/consistency", token: admin).decode(ConsistencyReport.self)
        #expect(report.ok, "\(report.violations)")
        print("coordinator kill loop (\(engine)): \(Self.kills) kills, \(writes) acknowledged writes, \(seen.created.count) instances")
        try await coordinator.kill9()
    }

    /// Both machines have heartbeated since `since` (their agents reconnected by themselves).
    func waitForAgents(_ client: APIClient, _ admin: String, since: Date) async throws {
        try await eventually("both agents heartbeat again", within: 120) {
            let machines = try await client.get("/api/v1/compute-machines", token: admin).decode(Page<ComputeMachine>.self).items
            return machines.count == 2 && machines.allSatisfy { ($0.lastHeartbeat ?? .distantPast) > since && $0.status == .active }
        }
    }
}
