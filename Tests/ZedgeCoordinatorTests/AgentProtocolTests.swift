import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// The coordinator's side of the agent protocol, spoken by the test as an agent would.
@Suite struct AgentProtocolTests {
    struct Fixture {
        let c: TestCoordinator
        let admin: String
        let dataCenter: EdgeDataCenter
        let pool: ResourcePool

        static func make(_ c: TestCoordinator) async throws -> Fixture {
            let admin = try await c.adminToken()
            let center = try await c.client.post("/api/v1/edge-data-centers", token: admin, ["name": "edge-1", "location": "Lyon"])
            #expect(center.status == 201, "\(center.text)")
            let dataCenter = try center.decode(EdgeDataCenter.self)
            let poolResponse = try await c.client.post("/api/v1/resource-pools", token: admin, ["name": "general", "edgeDataCenterId": dataCenter.id.uuidString])
            #expect(poolResponse.status == 201, "\(poolResponse.text)")
            return Fixture(c: c, admin: admin, dataCenter: dataCenter, pool: try poolResponse.decode(ResourcePool.self))
        }

        func token(kind: EnrollmentKind = .computeMachine, uses: Int = 1, expiresAt: String? = nil) async throws -> String {
            var body: [String: Any] = ["edgeDataCenterId": dataCenter.id.uuidString, "kind": kind.rawValue, "uses": uses]
            if kind == .computeMachine { body["resourcePoolId"] = pool.id.uuidString }
            if let expiresAt { body["expiresAt"] = expiresAt }
            let response = try await c.client.post("/api/v1/enrollment-tokens", token: admin, body)
            guard response.status == 201, let token = try response.json()["token"] as? String else {
                throw TestFailure("token: \(response.status) \(response.text)")
            }
            return token
        }

        func register(_ token: String, kind: EnrollmentKind = .computeMachine, ip: String = "10.0.0.5", serial: String? = nil,
                      hostname: String = "edge-host-1") async throws -> APIResponse {
            let facts = HostFacts(hostname: hostname, serialNumber: serial, cpuCores: 16, memoryGb: 64, storageGb: 1000,
                                  gpuCount: 1, gpuModel: "10de:20b0", managementIp: ip, macAddress: "52:54:00:12:34:56",
                                  hypervisorType: .kvm)
            let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
                RegisterRequest(enrollmentToken: token, kind: kind, facts: facts))) as! [String: Any]
            return try await c.client.post("/agent/v1/register", token: nil, body)
        }

        /// A heartbeat with one reading at `cpu` %, and `earlier` readings alike from the seconds before it in
        /// its backlog (health comes from a window of readings, so a level needs several).
        func heartbeat(_ credential: String, cpu: Double = 12.5, earlier: Int = 0) async throws -> APIResponse {
            let metrics = HostMetrics(cpuUsagePercent: cpu, memoryUsagePercent: 40, diskUsagePercent: 20, temperature: 55, uptimeSeconds: 3600)
            let now = Date()
            let backlog = (0..<earlier).reversed().map { MetricReading(at: now.addingTimeInterval(-Double($0 + 1)), metrics: metrics) }
            let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(HeartbeatRequest(
                metrics: metrics, observedVms: [ObservedVm(vmUuid: UUID().uuidString, vmName: "vm-1", state: .running)], agentVersion: "test",
                backlog: backlog.isEmpty ? nil : backlog))) as! [String: Any]
            return try await c.client.post("/agent/v1/heartbeat", token: credential, body)
        }
    }


    @Test(arguments: TestEngine.all)
    func enrollmentTokensAreScopedCountedAndShownOnce(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await Fixture.make(c)
            let token = try await f.token(uses: 2)
            #expect(token.hasPrefix("zet_"))
            let list = try await c.client.get("/api/v1/enrollment-tokens", token: f.admin)
            #expect(!list.text.contains(token))
            let listed = try list.decode(Page<EnrollmentToken>.self).items
            #expect(listed.count == 1 && listed[0].usesLeft == 2 && listed[0].kind == .computeMachine)

            // A COMPUTE_MACHINE token needs a pool of its data center; a USER may not make tokens.
            let noPool = try await c.client.post("/api/v1/enrollment-tokens", token: f.admin, ["edgeDataCenterId": f.dataCenter.id.uuidString, "kind": "COMPUTE_MACHINE"])
            #expect(noPool.problemFields == ["resourcePoolId"])
            let tenant = try await c.createTenant("t", token: f.admin)
            let (_, userToken, _) = try await c.createUser("plain", role: .user, tenant: tenant.id, token: f.admin)
            #expect(try await c.client.post("/api/v1/enrollment-tokens", token: userToken, ["edgeDataCenterId": f.dataCenter.id.uuidString, "kind": "CLOUD_BOX"]).status == 403)
            #expect(try await c.client.get("/api/v1/enrollment-tokens", token: userToken).status == 403)
        }
    }

    @Test(arguments: TestEngine.all)
    func registrationCreatesOrUpdatesTheMachineAndRefusesBadTokens(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await Fixture.make(c)
            let first = try await f.register(try await f.token())
            #expect(first.status == 201, "\(first.text)")
            let registered = try first.decode(RegisterResponse.self)
            #expect(registered.credential.hasPrefix("zac_") && registered.heartbeatIntervalS == 10)
            let machineId = try #require(registered.machineId)
            let machine = try await c.client.get("/api/v1/compute-machines/\(machineId)", token: f.admin).decode(ComputeMachine.self)
            #expect(machine.hostname == "edge-host-1" && machine.cpuCores == 16 && machine.gpuCount == 1 && machine.machineType == .gpuServer)
            #expect(machine.edgeDataCenterId == f.dataCenter.id && machine.resourcePoolId == f.pool.id && machine.status == .active)

            // The same host with a new token: the same machine, updated; the old credential (just used, so
            // known to the coordinator's cache) is replaced.
            #expect(try await f.heartbeat(registered.credential).status == 200)
            let again = try await f.register(try await f.token(), hostname: "edge-host-1-renamed")
            #expect(again.status == 201)
            let second = try again.decode(RegisterResponse.self)
            #expect(second.machineId == machineId)
            #expect(try await c.client.get("/api/v1/compute-machines", token: f.admin).decode(Page<ComputeMachine>.self).items.count == 1)
            #expect(try await f.heartbeat(registered.credential).status == 401)
            #expect(try await f.heartbeat(second.credential).status == 200)

            // Refusals, each with its reason.
            let spent = try await f.token(uses: 1)
            #expect(try await f.register(spent, ip: "10.0.0.6").status == 201)
            let usedUp = try await f.register(spent, ip: "10.0.0.7")
            #expect(usedUp.status == 401 && usedUp.text.contains("used up"))
            let revoked = try await f.token()
            let revokedId = try await c.client.get("/api/v1/enrollment-tokens?limit=500", token: f.admin).decode(Page<EnrollmentToken>.self).items
                .first { revoked.hasPrefix($0.prefix) }!.id
            #expect(try await c.client.delete("/api/v1/enrollment-tokens/\(revokedId)", token: f.admin).status == 204)
            let refusedRevoked = try await f.register(revoked, ip: "10.0.0.8")
            #expect(refusedRevoked.status == 401 && refusedRevoked.text.contains("revoked"))
            let unknown = try await f.register("zet_00000000_bogus", ip: "10.0.0.9")
            #expect(unknown.status == 401 && unknown.text.contains("Unknown enrollment token"))
            let wrongKind = try await f.register(try await f.token(kind: .cloudBox), kind: .computeMachine, ip: "10.0.0.10")
            #expect(wrongKind.status == 403)
            let badFacts = try await f.register(try await f.token(), ip: "not-an-ip")
            #expect(badFacts.problemFields == ["facts.managementIp"])

            // Each registration, accepted or refused, is audited.
            let audits = try await c.client.get("/api/v1/audit-logs?action=agent.register&limit=100", token: f.admin).decode(Page<AuditLog>.self).items
            #expect(audits.filter { $0.status == .success }.count == 3)
            #expect(audits.filter { $0.status == .denied }.count >= 4)
        }
    }

    @Test(arguments: TestEngine.all)
    func aCountedTokenAdmitsExactlyItsUsesUnderConcurrency(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await Fixture.make(c)
            let token = try await f.token(uses: 3)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<10 {
                    group.addTask { try await f.register(token, ip: "10.1.0.\(index + 1)", hostname: "host-\(index)").status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 3, "\(statuses)")
            #expect(statuses.filter { $0 == 401 }.count == 7, "\(statuses)")
            #expect(try await c.client.get("/api/v1/compute-machines", token: f.admin).decode(Page<ComputeMachine>.self).items.count == 3)
        }
    }

    @Test(arguments: TestEngine.all)
    func cloudBoxesRegisterOnlyWhenPreRegisteredAndGoOnlineOnTheirFirstHeartbeat(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.heartbeatIntervalSeconds = 1 }) { c in
            let f = try await Fixture.make(c)
            let token = try await f.token(kind: .cloudBox, uses: 2)
            let stranger = try await f.register(token, kind: .cloudBox, ip: "192.0.2.10", serial: "CB-UNKNOWN")
            #expect(stranger.status == 403)
            #expect(stranger.text.contains("pre-registered"))

            let created = try await c.client.post("/api/v1/cloud-boxes", token: f.admin, [
                "serialNumber": "CB-0001", "edgeDataCenterId": f.dataCenter.id.uuidString, "location": "Room 12", "model": "ZB-1",
            ])
            #expect(created.status == 201, "\(created.text)")
            let box = try created.decode(CloudBox.self)
            let registered = try await f.register(token, kind: .cloudBox, ip: "192.0.2.10", serial: "CB-0001")
            #expect(registered.status == 201, "\(registered.text)")
            let response = try registered.decode(RegisterResponse.self)
            #expect(response.cloudBoxId == box.id && response.machineId == nil)
            #expect(try await c.client.get("/api/v1/cloud-boxes/\(box.id)", token: f.admin).decode(CloudBox.self).status == .initializing)

            #expect(try await f.heartbeat(response.credential, cpu: 33).status == 200)
            try await eventually("the CloudBox is ONLINE with its readings") {
                let now = try await c.client.get("/api/v1/cloud-boxes/\(box.id)", token: f.admin).decode(CloudBox.self)
                return now.status == .online && now.cpuUsagePercent == 33 && now.lastHeartbeat != nil
            }
        }
    }

    @Test(arguments: TestEngine.all)
    func credentialsAreScopedAndRevocable(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await Fixture.make(c)
            let registered = try await f.register(try await f.token()).decode(RegisterResponse.self)
            // An agent credential is no key to /api; a user token or API key is none to /agent.
            #expect(try await c.client.get("/api/v1/auth/me", token: registered.credential).status == 403)
            #expect(try await c.client.get("/api/v1/compute-machines", token: registered.credential).status == 403)
            #expect(try await f.heartbeat(f.admin).status == 401)
            let key = try await c.client.post("/api/v1/api-keys", token: f.admin, ["name": "k"]).json()["key"] as! String
            #expect(try await f.heartbeat(key).status == 401)
            #expect(try await c.client.post("/agent/v1/heartbeat", token: nil, [:]).status == 401)
            // Stored hashed.
            #expect(!(try await c.client.get("/api/v1/compute-machines/\(registered.machineId!)", token: f.admin).text.contains(registered.credential)))
            // Revoked: the next call is a 401.
            #expect(try await f.heartbeat(registered.credential).status == 200)
            #expect(try await c.client.delete("/api/v1/compute-machines/\(registered.machineId!)/credential", token: f.admin).status == 204)
            #expect(try await f.heartbeat(registered.credential).status == 401)
        }
    }

    /// A held long-poll waits outside its request's middleware (`LongPollParkingResponder`) and goes through them
    /// again after its wait: it is still one request to the client and to the metrics, timed from its arrival, and
    /// the second pass authenticates again (a credential revoked during the wait gets nothing).
    @Test(arguments: TestEngine.all)
    func aHeldLongPollIsOneRequestAnsweredAfterItsWait(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await Fixture.make(c)
            let agent = try await f.register(try await f.token()).decode(RegisterResponse.self)
            let machine = try #require(agent.machineId)
            let route = ["route": "/agent/v1/tasks", "method": "GET"]

            // Nothing to hand out: the poll is answered, empty, once its second is over.
            let asked = ContinuousClock.now
            let empty = try await c.client.get("/agent/v1/tasks?wait=1", token: agent.credential)
            #expect(ContinuousClock.now - asked >= .seconds(1), "answered before its wait was over")
            #expect(empty.status == 200, "\(empty.text)")
            #expect(try empty.decode(TaskPollResponse.self).tasks.isEmpty)
            var page = try await MetricsTests.page(c)
            #expect(page.value("zedge_http_requests_total", route.merging(["status": "200"]) { $1 }) == 1)
            #expect(page.series("zedge_http_requests_total").keys.filter { $0["route"] == "/agent/v1/tasks" && $0["status"] != "200" }.isEmpty,
                    "the first pass's placeholder is not a request: \(page.series("zedge_http_requests_total"))")
            let waited = try #require(page.value("zedge_http_request_duration_seconds_sum", route.merging(["status": "200"]) { $1 }))
            #expect(waited >= 1, "timed from its arrival: \(waited) s")

            // Woken by a task queued while it waits: the task, in the same request.
            async let woken = c.client.get("/agent/v1/tasks?wait=50", token: agent.credential)
            try await eventually("the poll is held") { try await MetricsTests.page(c).value("zedge_agent_long_polls_held") == 1 }
            let queued = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                "kind": "vm.start", "payload": ["vmUuid": UUID().uuidString, "vmName": "zedge-woken"],
            ])
            #expect(queued.status == 202, "\(queued.text)")
            let tasks = try await woken.decode(TaskPollResponse.self).tasks
            #expect(tasks.map(\.kind) == [.vmStart])

            // Revoked while it waits: the second pass refuses it.
            async let revoked = c.client.get("/agent/v1/tasks?wait=50", token: agent.credential)
            try await eventually("the poll is held") { try await MetricsTests.page(c).value("zedge_agent_long_polls_held") == 1 }
            #expect(try await c.client.delete("/api/v1/compute-machines/\(machine)/credential", token: f.admin).status == 204)
            let again = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                "kind": "vm.start", "payload": ["vmUuid": UUID().uuidString, "vmName": "zedge-revoked"],
            ])
            #expect(again.status == 202, "\(again.text)")
            #expect(try await revoked.status == 401)
            page = try await MetricsTests.page(c)
            #expect(page.value("zedge_agent_long_polls_held") == 0)
            #expect(page.value("zedge_http_requests_total", route.merging(["status": "200"]) { $1 }) == 2)
            #expect(page.value("zedge_http_requests_total", route.merging(["status": "401"]) { $1 }) == 1)
        }
    }

    /// A long-poll whose client closes its connection while it waits ends then (Hummingbird keeps a half-closed
    /// channel active, so the poll learns it from `ClientClosureHandler`): a task queued afterwards is not handed to
    /// it, where it would stay leased for the delivery window and spend an attempt, and the next poll gets it at once,
    /// at attempt 1.
    @Test(arguments: TestEngine.all)
    func aPollWhoseClientLeftTakesNoTask(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await Fixture.make(c)
            let agent = try await f.register(try await f.token()).decode(RegisterResponse.self)
            let machine = try #require(agent.machineId)
            // The client gives up after a second of a 50 s wait and closes its connection.
            await #expect(throws: (any Error).self) {
                _ = try await c.client.send(.GET, "/agent/v1/tasks?wait=50", token: agent.credential, timeout: .seconds(1))
            }
            try await eventually("the abandoned poll is no longer held") {
                try await MetricsTests.page(c).value("zedge_agent_long_polls_held") == 0
            }
            let queued = try await c.client.post("/api/v1/compute-machines/\(machine)/tasks", token: f.admin, [
                "kind": "vm.start", "payload": ["vmUuid": UUID().uuidString, "vmName": "zedge-after-left"],
            ])
            #expect(queued.status == 202, "\(queued.text)")
            let tasks = try await c.client.get("/agent/v1/tasks?wait=0", token: agent.credential).decode(TaskPollResponse.self).tasks
            #expect(tasks.map(\.kind) == [.vmStart], "the task went to the poll whose client had left")
            #expect(tasks.first?.attempt == 1)
        }
    }

    @Test(arguments: TestEngine.all)
    func heartbeatsShowInTheAPIAndSilenceMeansOffline(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.missedHeartbeatsBeforeOffline = 3
            $0.metricSampleIntervalSeconds = 0
            $0.healthPolicy.transitionPeriod = 0  // recovery at the first calm reading (HealthWindowTests cover the period)
        }) { c in
            let f = try await Fixture.make(c)
            let registered = try await f.register(try await f.token()).decode(RegisterResponse.self)
            let machineId = try #require(registered.machineId)
            #expect(try await f.heartbeat(registered.credential, cpu: 97, earlier: 2).status == 200)
            try await eventually("lastHeartbeat and CRITICAL health are visible") {
                let machine = try await c.client.get("/api/v1/compute-machines/\(machineId)", token: f.admin).decode(ComputeMachine.self)
                return machine.lastHeartbeat != nil && machine.healthStatus == .critical
            }
            try await eventually("metric samples are readable") {
                let samples = try await c.client.get("/api/v1/compute-machines/\(machineId)/metrics", token: f.admin).decode(Page<MetricSample>.self)
                return samples.items.contains { $0.cpuUsagePercent == 97 && $0.temperature == 55 }
            }
            // Silence: OFFLINE after three missed intervals.
            try await eventually("the machine goes OFFLINE", within: 15) {
                try await c.client.get("/api/v1/compute-machines/\(machineId)", token: f.admin).decode(ComputeMachine.self).status == .offline
            }
            // A heartbeat brings it back.
            #expect(try await f.heartbeat(registered.credential, cpu: 10).status == 200)
            try await eventually("the machine is ACTIVE and HEALTHY again") {
                let machine = try await c.client.get("/api/v1/compute-machines/\(machineId)", token: f.admin).decode(ComputeMachine.self)
                return machine.status == .active && machine.healthStatus == .healthy
            }
            let audits = try await c.client.get("/api/v1/audit-logs?resourceType=SERVER&limit=100", token: f.admin).decode(Page<AuditLog>.self).items
            #expect(audits.contains { $0.action == "compute-machine.offline" && $0.resourceId == machineId })
            #expect(audits.contains { $0.action == "compute-machine.online" && $0.resourceId == machineId })
            // Bad readings are a 400 naming the field.
            let bad = try await c.client.post("/agent/v1/heartbeat", token: registered.credential, [
                "metrics": ["cpuUsagePercent": 150], "observedVms": [], "agentVersion": "x",
            ])
            #expect(bad.problemFields == ["metrics.cpuUsagePercent"])
            // A malformed time bound is a 400 naming it, not a filter silently dropped.
            let badSince = try await c.client.get("/api/v1/compute-machines/\(machineId)/metrics?since=yesterday", token: f.admin)
            #expect(badSince.status == 400 && badSince.problemFields == ["since"])
            #expect(try await c.client.get("/api/v1/compute-machines/\(machineId)/metrics?since=2999-01-01T00:00:00Z", token: f.admin)
                .decode(Page<MetricSample>.self).items.isEmpty)
        }
    }
}

extension AgentProtocolTests {
    /// Only silent machines go OFFLINE: one that keeps heartbeating stays ACTIVE, one that never did stays
    /// as it is (the liveness pass reads only the candidates now, not every machine).
    @Test(arguments: TestEngine.all)
    func onlySilentMachinesGoOffline(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.missedHeartbeatsBeforeOffline = 2
        }) { c in
            let f = try await Fixture.make(c)
            let token = try await f.token(uses: 3)
            let busy = try await f.register(token, ip: "10.7.0.1", hostname: "busy").decode(RegisterResponse.self)
            let silent = try await f.register(token, ip: "10.7.0.2", hostname: "silent").decode(RegisterResponse.self)
            let never = try await f.register(token, ip: "10.7.0.3", hostname: "never").decode(RegisterResponse.self)
            #expect(try await f.heartbeat(silent.credential).status == 200)
            func status(_ agent: RegisterResponse) async throws -> ComputeMachineStatus {
                try await c.client.get("/api/v1/compute-machines/\(agent.machineId!)", token: f.admin).decode(ComputeMachine.self).status
            }
            try await eventually("the silent machine goes OFFLINE", within: 15) {
                #expect(try await f.heartbeat(busy.credential).status == 200)
                return try await status(silent) == .offline
            }
            #expect(try await status(busy) == .active)
            #expect(try await status(never) == .active)
        }
    }
}

extension AgentProtocolTests {
    /// Heartbeats written in one flush (a batched UPDATE) each land on their own machine: its own time and health.
    @Test(arguments: TestEngine.all)
    func oneFlushWritesEachMachineItsOwnHeartbeat(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.metricSampleIntervalSeconds = 0 }) { c in
            let f = try await Fixture.make(c)
            let token = try await f.token(uses: 3)
            var agents: [(RegisterResponse, cpu: Double, health: HealthStatus)] = []
            for (index, (cpu, health)) in [(97.0, HealthStatus.critical), (88, .warning), (10, .healthy)].enumerated() {
                let agent = try await f.register(token, ip: "10.8.0.\(index + 1)", hostname: "flush-\(index)").decode(RegisterResponse.self)
                agents.append((agent, cpu, health))
            }
            let before = Date()
            for (agent, cpu, _) in agents {  // 20 ms apart: distinct times, still one flush (every second)
                #expect(try await f.heartbeat(agent.credential, cpu: cpu, earlier: 2).status == 200)
                try await Task.sleep(for: .milliseconds(20))
            }
            let after = Date()
            var machines: [ComputeMachine] = []
            try await eventually("every machine shows its heartbeat") {
                machines = try await agents.asyncMap { agent, _, _ in
                    try await c.client.get("/api/v1/compute-machines/\(agent.machineId!)", token: f.admin).decode(ComputeMachine.self)
                }
                return machines.allSatisfy { $0.lastHeartbeat != nil }
            }
            #expect(machines.map(\.healthStatus) == agents.map(\.health))
            let times = machines.compactMap(\.lastHeartbeat)
            #expect(times == times.sorted() && Set(times).count == 3, "each machine has the time of its own heartbeat")
            #expect(times.allSatisfy { $0 >= before.addingTimeInterval(-0.001) && $0 <= after.addingTimeInterval(0.001) })
            let samples = try await c.client.get("/api/v1/compute-machines/\(agents[1].0.machineId!)/metrics", token: f.admin)
                .decode(Page<MetricSample>.self).items
            #expect(samples.map(\.cpuUsagePercent) == [88, 88, 88], "its backlog's readings and its own")
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

@Suite struct HostLivenessTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    @Test func machinesGoOfflineAfterTheTimeoutAndComeBack() {
        #expect(HostLiveness.machineTransition(status: .active, lastHeartbeat: now.addingTimeInterval(-29), now: now, timeout: 30) == nil)
        #expect(HostLiveness.machineTransition(status: .active, lastHeartbeat: now.addingTimeInterval(-30), now: now, timeout: 30) == .offline)
        #expect(HostLiveness.machineTransition(status: .offline, lastHeartbeat: now.addingTimeInterval(-1), now: now, timeout: 30) == .active)
        #expect(HostLiveness.machineTransition(status: .offline, lastHeartbeat: now.addingTimeInterval(-100), now: now, timeout: 30) == nil)
        // An operator's states are not the heartbeat's to change; a never-seen machine stays as it is.
        #expect(HostLiveness.machineTransition(status: .maintenance, lastHeartbeat: now.addingTimeInterval(-100), now: now, timeout: 30) == nil)
        #expect(HostLiveness.machineTransition(status: .decommissioning, lastHeartbeat: now, now: now, timeout: 30) == nil)
        #expect(HostLiveness.machineTransition(status: .active, lastHeartbeat: nil, now: now, timeout: 30) == nil)
    }

    @Test func cloudBoxesComeOnlineOnTheFirstHeartbeat() {
        #expect(HostLiveness.cloudBoxTransition(status: .initializing, lastHeartbeat: now, now: now, timeout: 30) == .online)
        #expect(HostLiveness.cloudBoxTransition(status: .initializing, lastHeartbeat: nil, now: now, timeout: 30) == nil)
        #expect(HostLiveness.cloudBoxTransition(status: .online, lastHeartbeat: now.addingTimeInterval(-31), now: now, timeout: 30) == .offline)
        #expect(HostLiveness.cloudBoxTransition(status: .maintenance, lastHeartbeat: now, now: now, timeout: 30) == nil)
    }

    @Test func healthIsTheWorstReading() {
        let thresholds = HealthThresholds()
        #expect(thresholds.assess(HostMetrics(cpuUsagePercent: 10, memoryUsagePercent: 10)) == .healthy)
        #expect(thresholds.assess(HostMetrics(cpuUsagePercent: 10, diskUsagePercent: 91)) == .warning)
        #expect(thresholds.assess(HostMetrics(cpuUsagePercent: 96, diskUsagePercent: 91)) == .critical)
        #expect(thresholds.assess(HostMetrics(temperature: 92)) == .critical)
        #expect(thresholds.assess(HostMetrics()) == .healthy)
    }

    @Test func theTrackerCoalescesAndSamplesAtMostOncePerInterval() {
        let tracker = LivenessTracker(sampleInterval: 60)
        let host = UUID()
        for second in 0..<5 {
            tracker.record(.init(host: host, kind: .computeMachine, at: now.addingTimeInterval(Double(second)),
                                 metrics: HostMetrics(cpuUsagePercent: Double(second)), observedVms: [], agentVersion: "t"))
        }
        let (beats, samples) = tracker.drain()
        #expect(beats.count == 1 && beats[0].metrics.cpuUsagePercent == 4)  // the latest only
        #expect(samples.count == 1)
        #expect(tracker.drain().beats.isEmpty)
        tracker.restore(beats, samples: samples)  // a failed write loses nothing
        #expect(tracker.drain().beats.count == 1)
    }
}

@Suite struct BacklogTests {
    @Test func theAgentsBacklogIsBoundedDroppingTheOldest() {
        var backlog = ReadingBacklog(capacity: 3)
        let start = Date(timeIntervalSince1970: 0)
        for second in 0..<5 { backlog.append(MetricReading(at: start.addingTimeInterval(Double(second)), metrics: HostMetrics(cpuUsagePercent: Double(second)))) }
        #expect(backlog.readings.map(\.metrics.cpuUsagePercent) == [2, 3, 4])
        #expect(backlog.dropped == 2)
    }

    @Test func aBacklogBecomesSamplesAtTheirOwnTimes() {
        let tracker = LivenessTracker(sampleInterval: 10)
        let host = UUID(), now = Date(timeIntervalSince1970: 1000)
        let backlog = (1...6).map { MetricReading(at: now.addingTimeInterval(Double(-60 + $0 * 5)), metrics: HostMetrics(cpuUsagePercent: Double($0))) }
        tracker.record(.init(host: host, kind: .computeMachine, at: now, metrics: HostMetrics(cpuUsagePercent: 99), observedVms: [], agentVersion: "t"),
                       backlog: backlog)
        let samples = tracker.drain().samples
        // Readings 5 s apart, sampled at most every 10 s: 1, 3, 5, then the live one.
        #expect(samples.map(\.cpuUsagePercent) == [1, 3, 5, 99])
        #expect(samples.map(\.recordedAt) == [now.addingTimeInterval(-55), now.addingTimeInterval(-45), now.addingTimeInterval(-35), now])
    }
}
