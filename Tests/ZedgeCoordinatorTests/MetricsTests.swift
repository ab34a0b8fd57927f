import Foundation
import Logging
import Synchronization
import Testing
import ZedgeAgent
import ZedgeCore
@testable import ZedgeCoordinator

/// `/metrics` for operators (issue #13 item 5): the fleet-wide gauges read from the database, this replica's
/// counters, and Prometheus' own linter (`promtool check metrics`) on a live coordinator's page.
@Suite("Fleet metrics")
struct MetricsTests {
    typealias AgentProcess = AgentEndToEndTests.AgentProcess

    /// No lease runs out, no reconcile pass or error retry acts, and fixture machines stay fresh, while the test
    /// sets up the fleet: every count below comes from the test's own steps.
    static let still: @Sendable (inout CoordinatorConfiguration) -> Void = {
        $0.heartbeatIntervalSeconds = 120
        $0.taskLeaseSeconds = 600
        $0.taskDeliverySeconds = 600
        $0.reconcileIntervalSeconds = 86_400
        $0.errorRetrySeconds = 86_400
    }

    static let gib = 1_073_741_824.0

    /// A known fleet, built through the API and the agent protocol: four machines (two ACTIVE, one MAINTENANCE,
    /// one DECOMMISSIONING), two CloudBoxes (one ONLINE, one OFFLINE), instances RUNNING, ERROR and CREATING,
    /// `vm.create` tasks queued and leased, one retried and one failed, a placement refused for CPU, five
    /// heartbeats and a held long-poll. Each gauge and counter says exactly that.
    @Test(arguments: TestEngine.all)
    func theGaugesAndCountersDescribeAKnownFleet(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: Self.still) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            let m1 = try await f.addMachine(ip: "10.9.0.1", cpu: 16, memory: 64, storage: 1000)
            let m2 = try await f.addMachine(ip: "10.9.0.2", cpu: 8, memory: 32, storage: 500)
            let m3 = try await f.addMachine(ip: "10.9.0.3", cpu: 4, memory: 16, storage: 200)
            let m4 = try await f.addMachine(ip: "10.9.0.4", cpu: 4, memory: 16, storage: 200)
            for (machine, status) in [(m3, "MAINTENANCE"), (m4, "DECOMMISSIONING")] {
                let patched = try await c.client.patch("/api/v1/compute-machines/\(machine.id)", token: f.admin, ["status": status])
                #expect(patched.status == 200, "\(patched.text)")
            }
            let credentials = [m1.id: m1.credential, m2.id: m2.credential]

            // CloudBoxes: one only pre-registered (OFFLINE), one whose agent registered and heartbeated (ONLINE).
            for serial in ["CB-MET-1", "CB-MET-2"] {
                let box = try await c.client.post("/api/v1/cloud-boxes", token: f.admin, ["serialNumber": serial, "edgeDataCenterId": f.dataCenter.id.uuidString])
                #expect(box.status == 201, "\(box.text)")
            }
            let boxToken = try await c.client.post("/api/v1/enrollment-tokens", token: f.admin,
                                                   ["edgeDataCenterId": f.dataCenter.id.uuidString, "kind": "CLOUD_BOX"])
            let registered = try await c.client.post("/agent/v1/register", token: nil, try Self.json(RegisterRequest(
                enrollmentToken: try #require(try boxToken.json()["token"] as? String), kind: .cloudBox,
                facts: HostFacts(hostname: "box-met-2", serialNumber: "CB-MET-2", cpuCores: 2, memoryGb: 2, storageGb: 16,
                                 managementIp: "198.51.100.9", macAddress: "52:54:00:00:09:02"))))
            #expect(registered.status == 201, "\(registered.text)")
            let box = try registered.decode(RegisterResponse.self)
            try await f.heartbeat(box.credential, observed: [])
            try await eventually("the registered box is ONLINE") {
                try await c.client.get("/api/v1/cloud-boxes/\(try #require(box.cloudBoxId))", token: f.admin).decode(CloudBox.self).status == .online
            }

            /// Creates an instance; its machine's credential.
            func create(_ name: String) async throws -> (id: UUID, credential: String) {
                let created = try await f.create(name)
                guard created.status == 202 else { throw TestFailure("create \(name): \(created.status) \(created.text)") }
                let instance = try created.decode(InstanceService.Accepted.self).instance.instance
                guard let machine = instance.computeMachineId, let credential = credentials[machine] else {
                    throw TestFailure("\(name) was placed on \(String(describing: instance.computeMachineId)), not an ACTIVE machine")
                }
                return (instance.id, credential)
            }
            /// Polls the machine's tasks as its agent would, as agent run `run`.
            func poll(_ credential: String, run: UUID) async throws -> [TaskAssignment] {
                let response = try await c.client.send(.GET, "/agent/v1/tasks?wait=0", token: credential, headers: [(AgentRun.header, run.uuidString)])
                return try response.decode(TaskPollResponse.self).tasks
            }

            // RUNNING: created, leased, succeeded.
            let running = try await create("met-running")
            let firstRun = UUID()
            for task in try await poll(running.credential, run: firstRun) {
                try await f.finish(task, credential: running.credential, state: .running)
            }
            // ERROR: its vm.create fails (a FAILED vm.create).
            let failed = try await create("met-failed")
            for task in try await poll(failed.credential, run: firstRun) {
                try await f.finish(task, credential: failed.credential, outcome: .failed, error: "injected by the test")
            }
            // CREATING with its vm.create LEASED: leased by one run, then freed by the host's next run (a retry) and
            // leased again by it.
            let leased = try await create("met-leased")
            #expect(try await poll(leased.credential, run: UUID()).count == 1)
            #expect(try await poll(leased.credential, run: UUID()).map(\.attempt) == [2], "the next run gets it back, a second attempt")
            // CREATING with its vm.create QUEUED.
            let queuedSince = Date()
            _ = try await create("met-queued")
            // A placement refused: 64 cores fit no machine (two lack CPU, two are not ACTIVE).
            let big = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "met-big", "visibility": "PUBLIC", "defaultCpuCores": 64, "defaultMemoryGb": 4, "defaultStorageGb": 10,
            ]).decode(Template.self)
            let refused = try await f.create("met-refused", extra: ["templateId": big.id.uuidString])
            #expect(refused.status == 409 && refused.text.contains("No capacity"), "\(refused.text)")
            try await eventually("the instances settle") {
                let (a, b) = (try await f.instance(running.id).instance.status, try await f.instance(failed.id).instance.status)
                return a == .running && b == .error
            }

            let page = try await Self.scrape(c, until: { $0.value("zedge_tasks_queued", ["kind": "vm.create"]) == 1 })
            let scrapedBy = Date()
            func value(_ name: String, _ labels: [String: String] = [:]) -> Double? { page.value(name, labels) }

            // Hosts: every combination of the closed label sets is there, zero unless the fleet has it.
            let hosts = page.series("zedge_hosts")
            #expect(hosts.count == ComputeMachineStatus.allCases.count * HealthStatus.allCases.count + CloudBoxStatus.allCases.count)
            #expect(hosts.filter { $0.value != 0 } == [
                ["kind": "COMPUTE_MACHINE", "status": "ACTIVE", "health": "HEALTHY"]: 2,
                ["kind": "COMPUTE_MACHINE", "status": "MAINTENANCE", "health": "HEALTHY"]: 1,
                ["kind": "COMPUTE_MACHINE", "status": "DECOMMISSIONING", "health": "HEALTHY"]: 1,
                ["kind": "CLOUD_BOX", "status": "ONLINE", "health": "NONE"]: 1,
                ["kind": "CLOUD_BOX", "status": "OFFLINE", "health": "NONE"]: 1,
            ], "\(hosts)")

            let instances = page.series("zedge_instances")
            #expect(instances.count == InstanceStatus.allCases.count - 1, "every status but DELETED")
            #expect(instances.filter { $0.value != 0 } == [["status": "RUNNING"]: 1, ["status": "ERROR"]: 1, ["status": "CREATING"]: 2],
                    "\(instances)")

            #expect(page.series("zedge_tasks_queued").filter { $0.value != 0 } == [["kind": "vm.create"]: 1])
            #expect(page.series("zedge_tasks_leased").filter { $0.value != 0 } == [["kind": "vm.create"]: 1])
            #expect(page.series("zedge_tasks_queued").count == TaskKind.allCases.count)
            let age = try #require(value("zedge_tasks_oldest_queued_age_seconds"))
            #expect(age > 0 && age <= scrapedBy.timeIntervalSince(queuedSince) + 1, "\(age) s")

            #expect(page.series("zedge_task_retries_total").filter { $0.value != 0 } == [["kind": "vm.create"]: 1])
            #expect(page.series("zedge_task_failures_total").filter { $0.value != 0 } == [["kind": "vm.create"]: 1])
            #expect(page.series("zedge_task_retries_total").count == TaskKind.allCases.count)
            #expect(page.series("zedge_placement_refusals_total").filter { $0.value != 0 } == [["reason": "insufficient_cpu"]: 1])
            #expect(page.series("zedge_placement_refusals_total").count == PlacementRejection.allCases.count + 2)
            // Each of the four accepted creates recorded every stage once (the refused one, none).
            let stages = page.series("zedge_instance_create_stage_seconds_count")
            #expect(stages == Dictionary(uniqueKeysWithValues: InstanceCreateStage.allCases.map { (["stage": $0.rawValue], 4.0) }), "\(stages)")
            #expect(value("zedge_agent_heartbeats_total", ["kind": "COMPUTE_MACHINE"]) == 4)
            #expect(value("zedge_agent_heartbeats_total", ["kind": "CLOUD_BOX"]) == 1)
            #expect(value("zedge_agent_long_polls_held") == 0)
            // At least the scrape's own connection; no more than the test's clients can have opened.
            let open = try #require(value("zedge_http_connections_open"))
            #expect(open >= 1 && open < 100, "\(open)")
            #expect(value("zedge_fleet_census_failures_total") == 0)
            // SQLite's writer: taken for every write so far and held a while; PostgreSQL has no such writer.
            if engine == .sqlite {
                #expect((value("zedge_sqlite_writer_acquisitions_total") ?? 0) >= 5)
                #expect((value("zedge_sqlite_writer_held_seconds_total") ?? 0) > 0)
                #expect(value("zedge_sqlite_writer_waited_seconds_total") != nil && value("zedge_sqlite_writer_handover_seconds_total") != nil)
                let statements = value("zedge_sqlite_writer_statements_total") ?? 0
                let commits = value("zedge_sqlite_writer_commits_total") ?? 0
                #expect(statements >= commits && commits >= 5, "statements \(statements), commits \(commits)")
                #expect((value("zedge_sqlite_writer_wal_pages_total") ?? 0) >= commits)
            } else {
                #expect(page.types["zedge_sqlite_writer_acquisitions_total"] == nil)
            }

            // The pool: totals are its four machines' sizes; allocations the 2 cores, 4 GiB and 10 GiB of each of the
            // three instances that hold a claim (RUNNING and the two CREATING; the ERROR one gave its claim back).
            let pool = ["pool_id": f.pool.id.uuidString.lowercased(), "pool": f.pool.name, "data_center": f.dataCenter.name]
            #expect(value("zedge_pool_capacity_vcpus", pool) == 32)
            #expect(value("zedge_pool_allocated_vcpus", pool) == 6)
            #expect(value("zedge_pool_capacity_memory_bytes", pool) == 128 * Self.gib)
            #expect(value("zedge_pool_allocated_memory_bytes", pool) == 12 * Self.gib)
            #expect(value("zedge_pool_capacity_storage_bytes", pool) == 1900 * Self.gib)
            #expect(value("zedge_pool_allocated_storage_bytes", pool) == 30 * Self.gib)
            #expect(value("zedge_pool_capacity_gpus", pool) == 0)
            #expect(page.series("zedge_pool_capacity_vcpus").count == 1, "one COMPUTE pool")

            // Every metric has HELP text, and a TYPE that its name agrees with.
            for (name, type) in page.types {
                #expect(page.help[name]?.isEmpty == false, "\(name) has no HELP")
                #expect(name.hasSuffix("_total") == (type == "counter"), "\(name) is a \(type)")
            }

            // A long-poll with nothing to hand out (the machine in MAINTENANCE gets no work) is counted while it is
            // held. The test's client then gives up on it; the coordinator's shutdown ends it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try? await c.client.send(.GET, "/agent/v1/tasks?wait=60", token: m3.credential) }
                try await eventually("the long-poll is counted as held") {
                    try await Self.page(c).value("zedge_agent_long_polls_held") == 1
                }
                group.cancelAll()
            }
        }
    }

    /// Prometheus' linter accepts a live coordinator's page: a real agent (libvirt's test driver) running an
    /// instance, a machine in MAINTENANCE, a pre-registered CloudBox, a refused placement. Fails, never skips,
    /// without promtool.
    @Test(arguments: TestEngine.all)
    func promtoolAcceptsALiveCoordinatorsMetrics(engine: TestEngine) async throws {
        let promtool = try Self.promtool()
        try await TestCoordinator.with(engine, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.reconcileIntervalSeconds = 1
            let never = HealthThresholds.Limits(cpuPercent: 101, memoryPercent: 101, diskPercent: 101, temperature: 1000)
            $0.healthThresholds = HealthThresholds(warning: never, critical: never)
        }) { c in
            let f = try await InstanceFixture.make(c, cpu: 1, memory: 1)
            let parked = try await f.addMachine(ip: "10.9.1.1")
            #expect(try await c.client.patch("/api/v1/compute-machines/\(parked.id)", token: f.admin, ["status": "MAINTENANCE"]).status == 200)
            #expect(try await c.client.post("/api/v1/cloud-boxes", token: f.admin,
                                            ["serialNumber": "CB-PROM-1", "edgeDataCenterId": f.dataCenter.id.uuidString]).status == 201)

            // A real agent in the fixture's pool, on libvirt's test driver.
            let enrollment = try await c.client.post("/api/v1/enrollment-tokens", token: f.admin, [
                "edgeDataCenterId": f.dataCenter.id.uuidString, "resourcePoolId": f.pool.id.uuidString, "kind": "COMPUTE_MACHINE",
            ])
            let token = try #require(try enrollment.json()["token"] as? String, "\(enrollment.text)")
            let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-metrics-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            let registered = try await ProcessRunner.run("zedge-agent", [
                "register", "--coordinator", c.baseURL, "--token", token, "--ca-hash", try #require(c.started.caFingerprint),
                "--state-dir", stateDir, "--management-ip", "198.51.100.31", "--hostname", "metrics-host",
            ])
            #expect(registered.status == 0, "\(registered.stderr)")
            let agent = try AgentProcess(stateDir: stateDir)
            defer { agent.stop() }
            let machine = try #require(try await c.client.get("/api/v1/compute-machines", token: f.admin).decode(Page<ComputeMachine>.self)
                .items.first { $0.hostname == "metrics-host" })
            try await eventually("the agent's heartbeat is stored", within: 120) {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: f.admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }

            // An instance, retried while placement refuses (a saturated test machine's heartbeats can come late).
            var created = try await f.create("prom-web")
            let deadline = ContinuousClock.now + .seconds(300)
            while created.status == 409, created.text.contains("No capacity"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                created = try await f.create("prom-web")
            }
            #expect(created.status == 202, "\(created.text)")
            let id = try created.decode(InstanceService.Accepted.self).instance.instance.id
            try await eventually("the instance runs", within: 120) { try await f.instance(id).instance.status == .running }
            let big = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "prom-big", "visibility": "PUBLIC", "defaultCpuCores": 512, "defaultMemoryGb": 1, "defaultStorageGb": 1,
            ]).decode(Template.self)
            #expect(try await f.create("prom-refused", extra: ["templateId": big.id.uuidString]).status == 409)

            let response = try await c.client.get("/metrics", token: nil)
            #expect(response.status == 200)
            let page = try PrometheusText(response.text)
            #expect(page.value("zedge_instances", ["status": "RUNNING"]) == 1, "fresh: the census was first read by this scrape")
            #expect(page.sum("zedge_hosts", matching: ["kind": "COMPUTE_MACHINE"]) == 2)
            #expect(page.value("zedge_hosts", ["kind": "COMPUTE_MACHINE", "status": "MAINTENANCE", "health": "HEALTHY"]) == 1)
            #expect(page.value("zedge_hosts", ["kind": "CLOUD_BOX", "status": "OFFLINE", "health": "NONE"]) == 1)
            #expect(try #require(page.value("zedge_agent_heartbeats_total", ["kind": "COMPUTE_MACHINE"])) >= 2)
            #expect(page.sum("zedge_placement_refusals_total") >= 1)

            // The example dashboard queries only metrics the page has.
            for name in try Self.dashboardMetrics() {
                let base = ["_bucket", "_sum", "_count"].first { name.hasSuffix($0) && page.types[String(name.dropLast($0.count))] == "histogram" }
                    .map { String(name.dropLast($0.count)) } ?? name
                #expect(page.types[base] != nil, "coordinator/grafana-dashboard.json queries \(name), which /metrics does not have")
            }

            let file = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-metrics-\(UUID().uuidString).prom")
            try response.body.write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let checked = try await ProcessRunner.system("/bin/sh", ["-c", "exec \"$0\" check metrics < \"$1\"", promtool, file.path])
            #expect(checked.status == 0, "promtool check metrics: \(checked.stdout)\(checked.stderr)")
            #expect((checked.stdout + checked.stderr).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                    "promtool found problems: \(checked.stdout)\(checked.stderr)")
        }
    }

    /// The fleet gauges' cache: fifty scrapes at once read the database once; with no cache each scrape reads it;
    /// a renamed pool's old series go, a removed pool's too.
    @Test(arguments: TestEngine.all)
    func aScrapeStormReadsTheDatabaseOnceAndGoneSeriesGo(engine: TestEngine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Database.withDatabase(url: try await engine.makeDatabaseURL(in: directory), logger: Logger(label: "test")) { database in
            try await Migrator().migrate(database, logger: Logger(label: "test"))
            let store = Store(database: database)
            let center = EdgeDataCenter(name: "dc-storm")
            try await store.edgeDataCenters.insert(center)
            var pool = ResourcePool(name: "storm-a", edgeDataCenterId: center.id)
            try await store.resourcePools.insert(pool)

            let census = CountingCensus(store.fleet)
            let cached = MetricsRegistry(census: census, maxAge: .seconds(3600))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 { group.addTask { _ = try PrometheusText(String(decoding: await cached.exposition(), as: UTF8.self)) } }
                try await group.waitForAll()
            }
            #expect(census.reads == 1)

            let uncached = MetricsRegistry(census: census, maxAge: .zero)
            func page() async throws -> PrometheusText { try PrometheusText(String(decoding: await uncached.exposition(), as: UTF8.self)) }
            #expect(try await page().series("zedge_pool_capacity_vcpus").map(\.key["pool"]) == ["storm-a"])
            pool.name = "storm-b"
            _ = try await store.resourcePools.update(pool)
            #expect(try await page().series("zedge_pool_capacity_vcpus").map(\.key["pool"]) == ["storm-b"], "the old name's series went")
            #expect(try await store.resourcePools.delete(pool.id))
            let empty = try await page()
            #expect(empty.series("zedge_pool_capacity_vcpus").isEmpty && empty.series("zedge_pool_allocated_memory_bytes").isEmpty)
            #expect(census.reads == 4)
        }
    }

    // MARK: - Helpers

    /// promtool's path; a clear failure when it is not installed.
    static func promtool() throws -> String {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        guard let dir = dirs.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/promtool") }) else {
            throw TestFailure("promtool is not installed: scripts/ensure-deps.sh --with-promtool (make test does) installs Debian's prometheus package, which has it")
        }
        return "\(dir)/promtool"
    }

    /// The metric names the example Grafana dashboard queries; fails unless it is a dashboard whose every panel
    /// reads the `${DS_PROMETHEUS}` input.
    static func dashboardMetrics() throws -> Set<String> {
        let url = LayeringScanner.packageRoot().appendingPathComponent("coordinator/grafana-dashboard.json")
        guard let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any],
              let inputs = dashboard["__inputs"] as? [[String: Any]], inputs.contains(where: { $0["name"] as? String == "DS_PROMETHEUS" }),
              let panels = dashboard["panels"] as? [[String: Any]] else {
            throw TestFailure("\(url.path) is not a dashboard with a DS_PROMETHEUS input and panels")
        }
        var names: Set<String> = []
        for panel in panels where panel["type"] as? String != "row" {
            let source = (panel["datasource"] as? [String: Any])?["uid"] as? String
            guard source == "${DS_PROMETHEUS}", let targets = panel["targets"] as? [[String: Any]], !targets.isEmpty else {
                throw TestFailure("panel \(panel["title"] ?? "?") does not query the DS_PROMETHEUS input")
            }
            for case let expr as String in targets.map({ $0["expr"] }) {
                names.formUnion(expr.matches(of: #/zedge_[a-z_]+/#).map { String($0.output) })
            }
        }
        return names
    }

    /// The coordinator's `/metrics`, parsed.
    static func page(_ c: TestCoordinator) async throws -> PrometheusText {
        let response = try await c.client.get("/metrics", token: nil)
        guard response.status == 200 else { throw TestFailure("/metrics: \(response.status) \(response.text)") }
        return try PrometheusText(response.text)
    }

    /// The page once `ready` holds for it (the fleet gauges are cached for a few seconds); the last one read
    /// when 60 s pass first, for the assertions to show.
    static func scrape(_ c: TestCoordinator, until ready: (PrometheusText) -> Bool) async throws -> PrometheusText {
        let deadline = ContinuousClock.now + .seconds(60)
        var page = try await page(c)
        while !ready(page), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            page = try await Self.page(c)
        }
        return page
    }

    static func json<T: Encodable>(_ value: T) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(value)) as! [String: Any]
    }
}

/// The real census repository, counting its reads.
final class CountingCensus: FleetCensusRepository {
    let inner: any FleetCensusRepository
    private let count = Mutex(0)

    init(_ inner: any FleetCensusRepository) { self.inner = inner }

    var reads: Int { count.withLock { $0 } }

    func census() async throws -> FleetCensus {
        count.withLock { $0 += 1 }
        return try await inner.census()
    }
}
