import Foundation
import SQLKit
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// A data center, a pool, a tenant with a USER, a public template, and machines enrolled through the agent
/// protocol (registered and heartbeating, so placement sees them fresh).
struct InstanceFixture {
    let c: TestCoordinator
    let admin: String
    let dataCenter: EdgeDataCenter
    let pool: ResourcePool
    let tenant: Tenant
    let user: (user: User, token: String, password: String)
    let template: Template

    /// For tests whose fixture machines heartbeat once, at enrolment: a 2-minute interval keeps them fresh
    /// (placeable, ONLINE) for the whole test, however loaded the machine running the suite is.
    /// Heartbeats rare enough that a test's own machines stay ACTIVE without it sending them, and five minutes (the
    /// most a coordinator allows) for an agent's answer to a call: on a loaded CI machine a console log's round trip
    /// through the agent has taken more than the default 10 s, and once, 670 s into a full run, more than 60 s (the
    /// asker then gets a 503 and the call is withdrawn before the test's agent sees it). A call that is answered
    /// returns at once, so only a failing test waits that long; the test that expects a 503 sets its own.
    /// OFFLINE only after an hour of silence: in a clean CI run a template test spent more than the default
    /// 3 × 120 s between its one heartbeat and its first create, and found its machine OFFLINE. No test that uses
    /// this fixture expects a machine to go OFFLINE.
    static let patient: @Sendable (inout CoordinatorConfiguration) -> Void = {
        $0.heartbeatIntervalSeconds = 120
        $0.missedHeartbeatsBeforeOffline = 30
        $0.agentCallTimeoutSeconds = 300
    }

    static func make(_ c: TestCoordinator, policy: String = "load_balance", cpu: Int = 2, memory: Int = 4) async throws -> InstanceFixture {
        let admin = try await c.adminToken()
        let center = try await c.client.post("/api/v1/edge-data-centers", token: admin, ["name": "edge-\(UUID().uuidString.prefix(6).lowercased())"])
        let dataCenter = try center.decode(EdgeDataCenter.self)
        let poolResponse = try await c.client.post("/api/v1/resource-pools", token: admin, [
            "name": "pool", "edgeDataCenterId": dataCenter.id.uuidString, "schedulingPolicy": policy,
        ])
        let pool = try poolResponse.decode(ResourcePool.self)
        let tenant = try await c.createTenant("tenant-\(UUID().uuidString.prefix(6).lowercased())", token: admin)
        let user = try await c.createUser("user-\(UUID().uuidString.prefix(6).lowercased())", role: .user, tenant: tenant.id, token: admin)
        let created = try await c.client.post("/api/v1/templates", token: admin, [
            "name": "small", "visibility": "PUBLIC", "defaultCpuCores": cpu, "defaultMemoryGb": memory, "defaultStorageGb": 10,
        ])
        guard created.status == 201 else { throw TestFailure("template: \(created.status) \(created.text)") }
        return InstanceFixture(c: c, admin: admin, dataCenter: dataCenter, pool: pool, tenant: tenant, user: user,
                               template: try created.decode(Template.self))
    }

    /// Enrols a machine of this size into the pool and heartbeats once; returns its id and credential.
    func addMachine(ip: String, cpu: Int = 16, memory: Int = 64, storage: Int = 1000, gpus: Int = 0, gpuModel: String? = nil,
                    gpuAddresses: [String]? = nil, observed: [ObservedVm] = [], bridge: String? = nil) async throws -> (id: UUID, credential: String) {
        let tokenResponse = try await c.client.post("/api/v1/enrollment-tokens", token: admin, [
            "edgeDataCenterId": dataCenter.id.uuidString, "resourcePoolId": pool.id.uuidString, "kind": "COMPUTE_MACHINE",
        ])
        guard let token = try tokenResponse.json()["token"] as? String else { throw TestFailure("token: \(tokenResponse.text)") }
        let facts = HostFacts(hostname: "host-\(ip.replacingOccurrences(of: ".", with: "-"))", cpuCores: cpu, memoryGb: memory,
                              storageGb: storage, gpuCount: gpus, gpuModel: gpuModel, gpuPciAddresses: gpuAddresses, managementIp: ip,
                              macAddress: "52:54:00:00:00:01",
                              hypervisorType: .kvm, integrationBridge: bridge)
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
            RegisterRequest(enrollmentToken: token, kind: .computeMachine, facts: facts))) as! [String: Any]
        let registered = try await c.client.post("/agent/v1/register", token: nil, body)
        guard registered.status == 201 || registered.status == 200 else { throw TestFailure("register: \(registered.status) \(registered.text)") }
        let response = try registered.decode(RegisterResponse.self)
        guard let id = response.machineId else { throw TestFailure("no machine id: \(registered.text)") }
        try await heartbeat(response.credential, observed: observed, bridge: bridge)
        // The heartbeat reaches the database with the next liveness flush (once a second).
        try await eventually("machine heartbeat stored") {
            try await c.client.get("/api/v1/compute-machines/\(id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
        }
        return (id, response.credential)
    }

    func heartbeat(_ credential: String, observed: [ObservedVm], bridge: String? = nil) async throws {
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(HeartbeatRequest(
            metrics: HostMetrics(cpuUsagePercent: 10, memoryUsagePercent: 20, diskUsagePercent: 30, temperature: 40, uptimeSeconds: 100),
            observedVms: observed, agentVersion: "test", integrationBridge: bridge))) as! [String: Any]
        let response = try await c.client.post("/agent/v1/heartbeat", token: credential, body)
        guard response.status == 200 else { throw TestFailure("heartbeat: \(response.status) \(response.text)") }
    }

    func create(_ name: String, token: String? = nil, extra: [String: Any] = [:]) async throws -> APIResponse {
        var body: [String: Any] = ["name": name, "templateId": template.id.uuidString]
        for (k, v) in extra { body[k] = v }
        return try await c.client.post("/api/v1/instances", token: token ?? user.token, body)
    }

    func instance(_ id: UUID) async throws -> InstanceView {
        try await c.client.get("/api/v1/instances/\(id)", token: admin).decode(InstanceView.self)
    }

    func consistency() async throws -> ConsistencyReport {
        try await c.client.get("/api/v1/admin/consistency", token: admin).decode(ConsistencyReport.self)
    }

    /// An instance placed on `host`, run and deleted through the agent protocol: its domain, as the host would
    /// report it had it survived (a domain this coordinator knew, now an orphan).
    /// `observed`: the domains the host has meanwhile (its heartbeat says so first: under a loaded suite the
    /// machine's last heartbeat may be old enough to have made it OFFLINE).
    func deletedDomain(_ name: String, on host: (id: UUID, credential: String), observed: [ObservedVm] = []) async throws -> ObservedVm {
        try await heartbeat(host.credential, observed: observed)
        try await eventually("the machine is ACTIVE again") {
            try await c.client.get("/api/v1/compute-machines/\(host.id)", token: admin).decode(ComputeMachine.self).status == .active
        }
        let created = try await create(name)
        guard created.status == 202 else { throw TestFailure("create \(name): \(created.status) \(created.text)") }
        let id = try created.decode(InstanceService.Accepted.self).instance.instance.id
        guard let task = try await lease(host.credential).first(where: { $0.kind == .vmCreate }) else { throw TestFailure("no vm.create") }
        let spec = try task.payload.decode(as: VmCreatePayload.self).spec
        try await finish(task, credential: host.credential, state: .running)
        guard try await c.client.delete("/api/v1/instances/\(id)", token: user.token).status == 202,
              let delete = try await lease(host.credential).first(where: { $0.kind == .vmDelete }) else { throw TestFailure("no vm.delete") }
        try await finish(delete, credential: host.credential)
        return ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running)
    }

    /// Leases the machine's queued tasks as its agent would.
    func lease(_ credential: String) async throws -> [TaskAssignment] {
        try await c.client.get("/agent/v1/tasks?wait=0", token: credential).decode(TaskPollResponse.self).tasks
    }

    /// Acknowledges receipt of a leased task as its agent would (its first event), so the lease runs the whole
    /// `taskLeaseSeconds` rather than the `taskDeliverySeconds` an unacknowledged one gets: on a loaded CI machine
    /// more than the default 15 s has passed between a test's lease and its last request about the task.
    func acknowledge(_ task: TaskAssignment, credential: String) async throws {
        let response = try await c.client.post("/agent/v1/tasks/\(task.id)/events", token: credential,
                                               ["sequence": 1, "kind": "STEP", "name": "received"])
        guard response.status == 204 else { throw TestFailure("event: \(response.status) \(response.text)") }
    }

    /// Reports a task's result as its agent would.
    func finish(_ task: TaskAssignment, credential: String, outcome: TaskOutcome = .succeeded, state: DomainState? = nil,
                error: String? = nil) async throws {
        var observed: JSONValue?
        if let state, let uuid = InstanceService.vmUuid(of: AgentTask(kind: task.kind, payload: task.payload)) {
            observed = try JSONValue(encoding: ObservedVm(vmUuid: uuid.uuidString, vmName: "vm", state: state))
        }
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
            TaskResultReport(outcome: outcome, error: error, observed: observed))) as! [String: Any]
        let response = try await c.client.post("/agent/v1/tasks/\(task.id)/result", token: credential, body)
        guard response.status == 204 else { throw TestFailure("result: \(response.status) \(response.text)") }
    }
}

@Suite("Instances: placement, claims and quotas")
struct InstancePlacementTests {
    @Test(arguments: TestEngine.all)
    func fiftyConcurrentCreatesForTenSlots(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            // Two machines with room for five 2-core instances each.
            _ = try await f.addMachine(ip: "10.1.0.1", cpu: 10, memory: 64)
            _ = try await f.addMachine(ip: "10.1.0.2", cpu: 10, memory: 64)
            let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let response = try await f.create("vm-\(i)")
                        return (response.status, response.text)
                    }
                }
                var all: [(Int, String)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(statuses.filter { $0.0 == 202 }.count == 10)
            let refused = statuses.filter { $0.0 == 409 }
            #expect(refused.count == 40, "\(statuses.filter { $0.0 != 202 && $0.0 != 409 })")
            #expect(refused.allSatisfy { $0.1.contains("No capacity") }, "\(refused.first?.1 ?? "")")
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
            let pool = try await c.client.get("/api/v1/resource-pools/\(f.pool.id)", token: f.admin).decode(ResourcePool.self)
            #expect(pool.allocatedCpuCores == 20 && pool.totalCpuCores == 20 && pool.allocatedMemoryGb == 40)
            let center = try await c.client.get("/api/v1/edge-data-centers/\(f.dataCenter.id)", token: f.admin).decode(EdgeDataCenter.self)
            #expect(center.totalCpuCores == 20 && center.totalMemoryGb == 128)
        }
    }

    /// A claim tries the best 32 machines, not every fit: when all it tried were taken first, the 409 says how many
    /// it tried of how many fitted.
    @Test func aLostRaceSaysHowManyMachinesWereTriedOfHowManyFitted() {
        let choice = PlacementChoice(machineId: UUID(), resourcePoolId: UUID(), claim: .zero, score: 0.5)
        let few = PlacementDecision(ranked: [choice, choice], fitted: 2, rejections: [:], considered: 3)
        #expect(Placement.lostRace(few) == "No capacity: the 2 machine(s) that fitted were taken by concurrent placements; try again.")
        let many = PlacementDecision(ranked: Array(repeating: choice, count: Placement.choicesTried), fitted: 6_000, rejections: [:],
                                     considered: 10_000)
        #expect(Placement.lostRace(many)
                == "No capacity: the best 32 of the 6000 machines that fitted were taken by concurrent placements; try again.")
    }

    @Test(arguments: TestEngine.all)
    func twoPlacementsRaceForTheLastSlot(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            _ = try await f.addMachine(ip: "10.2.0.1", cpu: 4, memory: 64)
            #expect(try await f.create("first").status == 202)
            // One slot left: two creates race for it.
            async let a = f.create("a")
            async let b = f.create("b")
            let results = try await [a, b]
            #expect(results.map(\.status).sorted() == [202, 409], "\(results.map(\.text))")
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
            let machine = try await c.client.get("/api/v1/compute-machines/\(f.pool.id)", token: f.admin)
            #expect(machine.status == 404)
        }
    }

    @Test(arguments: TestEngine.all)
    func gpuInstancesGetTheirOwnDevicesOfTheRightModel(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let gpuHost = try await f.addMachine(ip: "10.11.0.1", cpu: 32, memory: 128, gpus: 2, gpuModel: "NVIDIA A100",
                                                 gpuAddresses: ["0000:65:00.0", "0000:66:00.0"])
            _ = try await f.addMachine(ip: "10.11.0.2", cpu: 64, memory: 256)  // roomier, but without GPUs
            let template = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "gpu", "visibility": "PUBLIC", "defaultCpuCores": 4, "defaultMemoryGb": 16, "defaultStorageGb": 20,
                "defaultGpuCount": 1, "gpuModel": "nvidia a100",
            ]).decode(Template.self)
            func create(_ name: String) async throws -> APIResponse {
                try await c.client.post("/api/v1/instances", token: f.user.token, ["name": name, "templateId": template.id.uuidString])
            }
            var addresses: [String] = []
            var ids: [UUID] = []
            for name in ["g1", "g2"] {
                let accepted = try await create(name)
                #expect(accepted.status == 202, "\(accepted.text)")
                ids.append(try accepted.decode(InstanceService.Accepted.self).instance.instance.id)
                let tasks = try await f.lease(gpuHost.credential)
                let spec = try #require(try tasks.first?.payload.decode(as: VmCreatePayload.self)).spec
                #expect(spec.gpus.count == 1)
                addresses += spec.gpus.map(\.pciAddress)
                try await f.finish(tasks[0], credential: gpuHost.credential, state: .running)
            }
            #expect(Set(addresses) == ["0000:65:00.0", "0000:66:00.0"])
            let third = try await create("g3")
            #expect(third.status == 409 && third.text.contains("lack free GPUs"), "\(third.text)")

            // Deleting one frees its device for the next.
            _ = try await c.client.delete("/api/v1/instances/\(ids[0])", token: f.user.token)
            let delete = try await f.lease(gpuHost.credential)
            try await f.finish(delete[0], credential: gpuHost.credential)
            #expect(try await create("g4").status == 202)
            let again = try await f.lease(gpuHost.credential)
            #expect(try again[0].payload.decode(as: VmCreatePayload.self).spec.gpus.map(\.pciAddress) == [addresses[0]])
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
        }
    }

    @Test(arguments: TestEngine.all)
    func quotasAreCheckedUserThenGroupThenTenantAndNamed(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            _ = try await f.addMachine(ip: "10.3.0.1", cpu: 64, memory: 256)

            // User level: 4 cores allow two 2-core instances.
            _ = try await c.client.patch("/api/v1/users/\(f.user.user.id)", token: f.admin, ["quotaConfig": ["cpuCores": 4]])
            #expect(try await f.create("u1").status == 202)
            #expect(try await f.create("u2").status == 202)
            let user = try await f.create("u3")
            #expect(user.status == 409)
            #expect(user.problemFields == ["quota.user.cpuCores"])
            #expect(user.text.contains("is 4") && user.text.contains("4 in use") && user.text.contains("2 requested"), "\(user.text)")

            // Group level: a group of two users with 8 GB of memory between them.
            let other = try await c.createUser("other-\(UUID().uuidString.prefix(5).lowercased())", role: .user, tenant: f.tenant.id, token: f.admin)
            let group = try await c.client.post("/api/v1/user-groups", token: f.admin, [
                "name": "team", "tenantId": f.tenant.id.uuidString, "quotaConfig": ["memoryGb": 12],
            ]).decode(UserGroup.self)
            for member in [f.user.user.id, other.user.id] {
                #expect(try await c.client.post("/api/v1/user-groups/\(group.id)/members", token: f.admin, ["userId": member.uuidString]).status == 201)
            }
            // f.user holds 8 GB already; the other member may add one 4 GB instance, not two.
            #expect(try await f.create("g1", token: other.token).status == 202)
            let grouped = try await f.create("g2", token: other.token)
            #expect(grouped.status == 409)
            #expect(grouped.problemFields == ["quota.group.memoryGb"], "\(grouped.text)")
            #expect(grouped.text.contains("group 'team'"))

            // Tenant level: three instances in all.
            _ = try await c.client.patch("/api/v1/tenants/\(f.tenant.id)", token: f.admin, ["quotaConfig": ["instances": 3]])
            let third = try await c.createUser("third-\(UUID().uuidString.prefix(5).lowercased())", role: .user, tenant: f.tenant.id, token: f.admin)
            let tenant = try await f.create("t1", token: third.token)
            #expect(tenant.status == 409)
            #expect(tenant.problemFields == ["quota.tenant.instances"], "\(tenant.text)")
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
        }
    }
}

@Suite("Instances: lifecycle through the agent protocol")
struct InstanceLifecycleTests {
    @Test(arguments: TestEngine.all)
    func createStopStartRestartDeleteTwice(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.4.0.1", cpu: 8, memory: 32)
            let created = try await f.create("web")
            #expect(created.status == 202, "\(created.text)")
            let accepted = try created.decode(InstanceService.Accepted.self)
            let id = accepted.instance.instance.id
            #expect(accepted.instance.instance.status == .creating && accepted.operation.progress == 20)

            // The agent gets vm.create with a spec built from the template, and asks to start it.
            let tasks = try await f.lease(host.credential)
            #expect(tasks.map(\.kind) == [.vmCreate])
            let payload = try tasks[0].payload.decode(as: VmCreatePayload.self)
            #expect(payload.start && payload.spec.vcpus == 2 && payload.spec.memoryMiB == 4096 && payload.validate().isEmpty)
            // Illegal while CREATING.
            #expect(try await c.client.post("/api/v1/instances/\(id)/actions/stop", token: f.user.token, [:]).status == 409)
            try await f.finish(tasks[0], credential: host.credential, state: .running)
            #expect(try await f.instance(id).instance.status == .running)
            let operation = try await c.client.get("/api/v1/operations/\(accepted.operation.id)", token: f.user.token).decode(ZedgeCore.Operation.self)
            #expect(operation.status == .succeeded && operation.progress == 100)

            for (action, kind, state, after) in [("stop", TaskKind.vmStop, DomainState.shutOff, InstanceStatus.stopped),
                                                 ("start", .vmStart, .running, .running),
                                                 ("restart", .vmRestart, .running, .running)] {
                let response = try await c.client.post("/api/v1/instances/\(id)/actions/\(action)", token: f.user.token, [:])
                #expect(response.status == 202, "\(action): \(response.text)")
                let leased = try await f.lease(host.credential)
                #expect(leased.map(\.kind) == [kind])
                try await f.finish(leased[0], credential: host.credential, state: state)
                #expect(try await f.instance(id).instance.status == after, "\(action)")
            }
            // Start while RUNNING is illegal; an unknown action is a 404.
            #expect(try await c.client.post("/api/v1/instances/\(id)/actions/start", token: f.user.token, [:]).status == 409)
            #expect(try await c.client.post("/api/v1/instances/\(id)/actions/explode", token: f.user.token, [:]).status == 404)

            // Delete twice: one vm.delete, capacity released once.
            let first = try await c.client.delete("/api/v1/instances/\(id)", token: f.user.token)
            let second = try await c.client.delete("/api/v1/instances/\(id)", token: f.user.token)
            #expect(first.status == 202 && second.status == 202, "\(second.text)")
            let deletes = try await f.lease(host.credential)
            #expect(deletes.map(\.kind) == [.vmDelete])
            try await f.finish(deletes[0], credential: host.credential)
            try await f.finish(deletes[0], credential: host.credential)  // the same result again changes nothing
            #expect(try await c.client.delete("/api/v1/instances/\(id)", token: f.user.token).status == 202)
            #expect(try await f.lease(host.credential).isEmpty)
            #expect(try await f.instance(id).instance.status == .deleted)
            let machine = try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self)
            #expect(machine.allocatedCpuCores == 0 && machine.allocatedMemoryGb == 0)
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
            // Another tenant's user does not see it at all.
            let stranger = try await c.createUser("stranger-\(UUID().uuidString.prefix(5).lowercased())", role: .user,
                                                  tenant: try await c.createTenant("other-\(UUID().uuidString.prefix(5).lowercased())", token: f.admin).id,
                                                  token: f.admin)
            #expect(try await c.client.get("/api/v1/instances/\(id)", token: stranger.token).status == 404)
        }
    }

    @Test(arguments: TestEngine.all)
    func agentFailureMeansErrorAndReleasedCapacity(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.5.0.1", cpu: 2, memory: 8)
            let id = try await f.create("doomed").decode(InstanceService.Accepted.self).instance.instance.id
            let tasks = try await f.lease(host.credential)
            try await f.finish(tasks[0], credential: host.credential, outcome: .failed, error: "libvirt: no space left")
            let failed = try await f.instance(id).instance
            #expect(failed.status == .error && failed.computeMachineId == nil)
            let machine = try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self)
            #expect(machine.allocatedCpuCores == 0)
            #expect(try await f.consistency().ok)
            // The room is free again: a new instance fits on the 2-core machine; the failed one deletes at once.
            #expect(try await f.create("again").status == 202)
            let deleted = try await c.client.delete("/api/v1/instances/\(id)", token: f.user.token)
            #expect(deleted.status == 202)
            #expect(try await f.instance(id).instance.status == .deleted)
            #expect(try await f.consistency().ok)

            // The check does catch a counter that drifts from its claims (written behind the API's back).
            try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: .init(label: "test")) { database in
                try await database.sql.raw("UPDATE compute_machines SET allocated_cpu_cores = allocated_cpu_cores + 1 WHERE id = \(bind: host.id)").run()
            }
            let broken = try await f.consistency()
            #expect(!broken.ok)
            #expect(Set(broken.violations.map(\.kind)) == ["MACHINE_ALLOCATION", "POOL_ALLOCATION"], "\(broken.violations)")
            #expect(broken.violations.first { $0.kind == "MACHINE_ALLOCATION" }?.resourceId == host.id)
        }
    }

    /// ERROR is not a dead end (issue #12): a start of a domain the host does not have rebuilds it at once, and the
    /// reconciler brings an ERROR instance to its desired status once `errorRetrySeconds` have passed.
    @Test(arguments: TestEngine.all)
    func errorIsNotADeadEnd(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            $0.heartbeatIntervalSeconds = 120
            $0.reconcileIntervalSeconds = 1
            $0.errorRetrySeconds = 1
        }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.6.1.1")
            let (id, spec) = try await f.runningDomain("phoenix", on: host)
            func report(_ state: DomainState?) async throws {
                try await Task.sleep(for: .milliseconds(20))  // taken after the instance's last change
                try await f.heartbeat(host.credential, observed: state.map { [ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: $0)] } ?? [])
            }
            func next(_ what: String) async throws -> [TaskAssignment] {
                var leased: [TaskAssignment] = []
                try await eventually(what) {
                    leased = try await f.lease(host.credential)
                    return !leased.isEmpty
                }
                return leased
            }
            func act(_ action: String) async throws -> TaskAssignment {
                let response = try await c.client.post("/api/v1/instances/\(id)/actions/\(action)", token: f.user.token, [:])
                #expect(response.status == 202, "\(action): \(response.text)")
                return try #require(try await f.lease(host.credential).first)
            }

            // A stop the guest refused: ERROR, desired STOPPED; the host still runs it: the reconciler stops it again.
            try await f.finish(try await act("stop"), credential: host.credential, outcome: .failed, error: "the guest ignored ACPI")
            #expect(try await f.instance(id).instance.status == .error)
            try await report(.running)
            let stop = try await next("the reconciler stops the ERROR instance that should be stopped")
            #expect(stop.map(\.kind) == [.vmStop])
            try await f.finish(stop[0], credential: host.credential, state: .shutOff)
            let stopped = try await f.instance(id).instance
            #expect(stopped.status == .stopped && stopped.desiredStatus == .stopped)

            // A start of a domain the host no longer has: rebuilt at once from the instance's snapshot, and started.
            let start = try await act("start")
            let absent = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
                TaskResultReport.domainAbsent(.vmStart, vmUuid: spec.uuid))) as! [String: Any]
            #expect(try await c.client.post("/agent/v1/tasks/\(start.id)/result", token: host.credential, absent).status == 204)
            let rebuild = try await f.lease(host.credential)
            #expect(rebuild.map(\.kind) == [.vmCreate])
            let payload = try rebuild[0].payload.decode(as: VmCreatePayload.self)
            #expect(payload.spec.uuid == spec.uuid && payload.spec.name == spec.name && payload.start)
            #expect(try await f.instance(id).instance.status == .creating)
            try await f.finish(rebuild[0], credential: host.credential, state: .running)
            #expect(try await f.instance(id).instance.status == .running)

            // A restart that failed while the domain runs on: the reconciler takes RUNNING without sending anything.
            try await f.finish(try await act("restart"), credential: host.credential, outcome: .failed, error: "reboot refused")
            #expect(try await f.instance(id).instance.status == .error)
            try await report(.running)
            try await eventually("the ERROR instance whose domain runs is RUNNING again") {
                try await f.instance(id).instance.status == .running
            }
            #expect(try await f.lease(host.credential).isEmpty)
            #expect(try await f.instance(id).instance.startedAt != nil)

            // A user's start of an ERROR instance whose domain its host no longer has: rebuilt, and it runs. (No
            // heartbeat since the failure, so the reconciler knows nothing and leaves it to the user.)
            try await f.finish(try await act("stop"), credential: host.credential, outcome: .failed, error: "the guest ignored ACPI")
            #expect(try await f.instance(id).instance.status == .error)
            let userStart = try await act("start")
            #expect(userStart.kind == .vmStart)
            let missing = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
                TaskResultReport.domainAbsent(.vmStart, vmUuid: spec.uuid))) as! [String: Any]
            #expect(try await c.client.post("/agent/v1/tasks/\(userStart.id)/result", token: host.credential, missing).status == 204)
            let rebuilt = try await f.lease(host.credential)
            #expect(rebuilt.map(\.kind) == [.vmCreate])
            try await f.finish(rebuilt[0], credential: host.credential, state: .running)
            let running = try await f.instance(id).instance
            #expect(running.status == .running && running.desiredStatus == .running)

            // A delete that failed: deleted again, and the instance ends DELETED with its claims released.
            let delete = try await c.client.delete("/api/v1/instances/\(id)", token: f.user.token)
            #expect(delete.status == 202)
            let first = try await f.lease(host.credential)
            #expect(first.map(\.kind) == [.vmDelete])
            try await f.finish(first[0], credential: host.credential, outcome: .failed, error: "libvirt was restarting")
            let failed = try await f.instance(id).instance
            #expect(failed.status == .error && failed.desiredStatus == .deleted)
            try await report(.running)
            let again = try await next("the reconciler deletes the ERROR instance again")
            #expect(again.map(\.kind) == [.vmDelete])
            try await f.finish(again[0], credential: host.credential)
            #expect(try await f.instance(id).instance.status == .deleted)
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
        }
    }

    /// A coordinator killed between storing a task's result and applying it to the instance (found by the coordinator
    /// kill loop): the reconciler applies the outcome it finds stored, and the operation catches up.
    @Test(arguments: TestEngine.all)
    func anOutcomeLostToACrashIsAppliedByTheReconciler(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.heartbeatIntervalSeconds = 120; $0.reconcileIntervalSeconds = 1 }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.6.2.1")
            let accepted = try await f.create("lost").decode(InstanceService.Accepted.self)
            let id = accepted.instance.instance.id
            let task = try #require(try await f.lease(host.credential).first)
            let spec = try task.payload.decode(as: VmCreatePayload.self).spec
            // The result, stored as TaskQueue.finish stores it, and nothing after (the process died there).
            let observed = try JSONValue(encoding: ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running))
            try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: .init(label: "test")) { database in
                try await database.sql.update("agent_tasks").set("status", to: "SUCCEEDED").set("result", to: try RowCodec.bind(observed))
                    .set("finished_at", to: Date()).set("lease_expires_at", to: SQLLiteral.null).where("id", .equal, task.id).run()
            }
            #expect(try await f.instance(id).instance.status == .creating)
            try await eventually("the reconciler applies the stored outcome") {
                try await f.instance(id).instance.status == .running
            }
            let operation = try await c.client.get("/api/v1/operations/\(accepted.operation.id)", token: f.admin).decode(ZedgeCore.Operation.self)
            #expect(operation.status == .succeeded, "\(operation)")
            #expect(try await f.consistency().ok)
        }
    }

    /// A reconcile pass reads only what changed (issue #14): after the first (full) pass, passes over steady reports
    /// of the same domains read no instance; a report that says something new has its machine read again, and the
    /// drift is repaired.
    @Test(arguments: TestEngine.all)
    func passesReadOnlyWhatChanged(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            $0.reconcileIntervalSeconds = 1
            // One full pass, the first: under a loaded suite this test has run past the default 10 minutes (CI, 851 s),
            // and a second full pass read the instance.
            $0.reconcileFullPassIntervalSeconds = 86_400
        }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.6.0.9")
            let (id, spec) = try await f.runningDomain("steady", on: host)
            #expect(try await f.instance(id).instance.status == .running)
            let running = [ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running)]
            func counters() async throws -> (full: Double, incremental: Double, read: Double) {
                let page = try await MetricsTests.page(c)
                return (page.value("zedge_reconcile_passes_total", ["kind": "full"]) ?? -1,
                        page.value("zedge_reconcile_passes_total", ["kind": "incremental"]) ?? -1,
                        page.value("zedge_reconcile_instances_read_total") ?? -1)
            }

            // Steady reports until the instance's last change is past the margin the passes read changes again in.
            let steadyUntil = ContinuousClock.now + .seconds(ReconcileLedger.changeMargin + 3)
            while ContinuousClock.now < steadyUntil {
                try await f.heartbeat(host.credential, observed: running)
                try await Task.sleep(for: .milliseconds(500))
            }
            let before = try await counters()
            #expect(before.full >= 1 && before.read >= 1, "the first pass read the instance: \(before)")
            var after = before
            try await eventually("two more passes") {
                try await f.heartbeat(host.credential, observed: running)
                after = try await counters()
                return after.incremental >= before.incremental + 2
            }
            #expect(after.read == before.read, "steady reports: no instance read (\(before) → \(after))")
            #expect(after.full == before.full)
            // The last pass of each kind, as an operator (and `zedge-bench reconciler`) sees it.
            let page = try await MetricsTests.page(c)
            let incremental = ["kind": "incremental"], full = ["kind": "full"]
            #expect(page.value("zedge_reconcile_last_pass_instances_read", incremental) == 0, "the last steady pass read no instance")
            #expect(page.value("zedge_reconcile_last_pass_instances_read", full) == 0, "the first (full) pass came before the instance")
            let fullBegan = try #require(page.value("zedge_reconcile_last_pass_started_timestamp_seconds", full))
            let incrementalBegan = try #require(page.value("zedge_reconcile_last_pass_started_timestamp_seconds", incremental))
            #expect(fullBegan > 0 && incrementalBegan > fullBegan, "the incremental passes came after the full one")
            #expect(abs(incrementalBegan - Date().timeIntervalSince1970) < 60, "a Unix timestamp: \(incrementalBegan)")
            #expect((page.value("zedge_reconcile_last_pass_duration_seconds", incremental) ?? -1) >= 0)
            #expect(try await f.lease(host.credential).isEmpty)

            // The host reports the domain stopped: its machine is read again and the instance started.
            try await f.heartbeat(host.credential, observed: [ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .shutOff)])
            var repair: [TaskAssignment] = []
            try await eventually("the reconciler sends vm.start") {
                repair = try await f.lease(host.credential)
                return !repair.isEmpty
            }
            #expect(repair.map(\.kind) == [.vmStart])
            // Counted when that pass ends, which may come after its task has reached the host.
            try await eventually("the pass that read the instance is counted") { try await counters().read > after.read }
        }
    }

    /// `reconcileFullPassIntervalSeconds` sets how often a pass reads every settled instance again.
    @Test
    func fullPassesComeEveryConfiguredInterval() async throws {
        try await TestCoordinator.with(.sqlite, configure: {
            $0.reconcileIntervalSeconds = 1
            $0.reconcileFullPassIntervalSeconds = 2
        }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.6.0.10")
            let (_, spec) = try await f.runningDomain("resynced", on: host)
            let running = [ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running)]
            func passes() async throws -> (full: Double, incremental: Double) {
                let page = try await MetricsTests.page(c)
                return (page.value("zedge_reconcile_passes_total", ["kind": "full"]) ?? 0,
                        page.value("zedge_reconcile_passes_total", ["kind": "incremental"]) ?? 0)
            }
            let before = try await passes()
            var after = before
            try await eventually("two more full passes, incremental ones between them") {
                try await f.heartbeat(host.credential, observed: running)
                after = try await passes()
                return after.full >= before.full + 2
            }
            #expect(after.incremental > before.incremental, "passes between the full ones read only what changed (\(before) → \(after))")
            #expect((try await MetricsTests.page(c).value("zedge_reconcile_last_pass_instances_read", ["kind": "full"]) ?? 0) >= 1,
                    "a full pass reads the running instance")
        }
    }

    /// A heartbeat that listed a domain before its instance's `vm.delete` finished says nothing about whether it
    /// survived: no second `vm.delete` for it, however many passes run (each delete had sent one, as for an orphan).
    /// A heartbeat after the delete that still lists it makes it an orphan, although it says what the older one said.
    @Test(arguments: TestEngine.all)
    func aReportFromBeforeADeleteMakesNoOrphan(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.reconcileIntervalSeconds = 1 }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.6.0.9")
            let (id, spec) = try await f.runningDomain("going", on: host)
            let domain = ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running)
            #expect(try await c.client.delete("/api/v1/instances/\(id)", token: f.user.token).status == 202)
            let delete = try #require(try await f.lease(host.credential).first { $0.kind == .vmDelete })
            try await f.heartbeat(host.credential, observed: [domain])  // listed while the delete runs
            try await Task.sleep(for: .milliseconds(20))
            try await f.finish(delete, credential: host.credential)
            #expect(try await f.instance(id).instance.status == .deleted)
            try await Task.sleep(for: .seconds(3))  // three reconcile passes
            #expect(try await f.lease(host.credential).isEmpty, "no vm.delete from a report older than the delete")

            try await f.heartbeat(host.credential, observed: [domain])
            var cleanup: [TaskAssignment] = []
            try await eventually("the domain that outlived its delete is an orphan") {
                cleanup += try await f.lease(host.credential)
                return !cleanup.isEmpty
            }
            #expect(cleanup.map(\.kind) == [.vmDelete])
            #expect(try cleanup.first?.payload.decode(as: VmRefPayload.self).vmUuid == spec.uuid)
        }
    }

    @Test(arguments: TestEngine.all)
    func driftIsRepairedAndTimeoutsStop(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.reconcileIntervalSeconds = 1 }) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.6.0.1")
            let (id, spec) = try await f.runningDomain("drifty", on: host)
            #expect(try await f.instance(id).instance.status == .running)

            // The host reports the domain stopped behind the coordinator's back: it is started again.
            try await Task.sleep(for: .milliseconds(20))
            try await f.heartbeat(host.credential, observed: [ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .shutOff)])
            var repair: [TaskAssignment] = []
            try await eventually("the reconciler sends vm.start") {
                repair = try await f.lease(host.credential)
                return !repair.isEmpty
            }
            #expect(repair.map(\.kind) == [.vmStart])
            try await f.finish(repair[0], credential: host.credential, state: .running)
            #expect(try await f.instance(id).instance.status == .running)

            // A domain of a deleted instance that came back is deleted; one this coordinator never knew is left alone,
            // even when named like Zedge's (another deployment's on a shared libvirtd, an operator's direct task).
            let orphan = try await f.deletedDomain("ghost", on: host, observed: [
                ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running)])
            try await f.heartbeat(host.credential, observed: [
                ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running), orphan,
                ObservedVm(vmUuid: UUID().uuidString, vmName: "zedge-0badf00d-someone-elses", state: .running),
                ObservedVm(vmUuid: UUID().uuidString, vmName: "not-ours", state: .running),
            ])
            var cleanup: [TaskAssignment] = []
            try await eventually("the reconciler deletes the orphan") {
                cleanup = try await f.lease(host.credential)
                return !cleanup.isEmpty
            }
            #expect(cleanup.map(\.kind) == [.vmDelete])
            #expect(try cleanup[0].payload.decode(as: VmRefPayload.self).vmUuid.uuidString == orphan.vmUuid)
            try await Task.sleep(for: .seconds(2))  // two more reconcile passes: nothing for the unknown domains
            #expect(try await f.lease(host.credential).isEmpty)

            // The host no longer has the instance's domain: it is defined again (and started).
            try await f.heartbeat(host.credential, observed: [])
            var recreate: [TaskAssignment] = []
            try await eventually("the reconciler recreates the missing domain") {
                recreate = try await f.lease(host.credential)
                return !recreate.isEmpty
            }
            #expect(recreate.map(\.kind) == [.vmCreate])
            let again = try recreate[0].payload.decode(as: VmCreatePayload.self)
            #expect(again.spec.uuid == spec.uuid && again.start)
            #expect(try await f.instance(id).instance.status == .creating)
            try await f.finish(recreate[0], credential: host.credential, state: .running)
            #expect(try await f.instance(id).instance.status == .running)

            // timeoutS: a 1-second timeout stops it, and desiredStatus becomes STOPPED.
            #expect(try await c.client.patch("/api/v1/instances/\(id)", token: f.user.token, ["timeoutS": 1]).status == 200)
            var stop: [TaskAssignment] = []
            try await eventually("the reconciler stops the timed-out instance") {
                stop = try await f.lease(host.credential)
                return !stop.isEmpty
            }
            #expect(stop.map(\.kind) == [.vmStop])
            let stopping = try await f.instance(id).instance
            #expect(stopping.desiredStatus == .stopped && stopping.status == .stopping)
            try await f.finish(stop[0], credential: host.credential, state: .shutOff)
            #expect(try await f.instance(id).instance.status == .stopped)
        }
    }

    @Test(arguments: TestEngine.all)
    func maintenanceAndDecommissioning(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.7.0.1")
            let accepted = try await f.create("kept").decode(InstanceService.Accepted.self)
            #expect(try await c.client.patch("/api/v1/compute-machines/\(host.id)", token: f.admin, ["status": "MAINTENANCE"]).status == 200)
            let refused = try await f.create("nowhere")
            #expect(refused.status == 409 && refused.text.contains("MAINTENANCE"), "\(refused.text)")
            let decommission = try await c.client.patch("/api/v1/compute-machines/\(host.id)", token: f.admin, ["status": "DECOMMISSIONING"])
            #expect(decommission.status == 409 && decommission.text.contains("1 instance(s) remain"), "\(decommission.text)")
            #expect(try await c.client.patch("/api/v1/compute-machines/\(host.id)", token: f.admin, ["cpuCores": 99]).status == 400)
            #expect(accepted.instance.instance.computeMachineId == host.id)
            #expect(try await c.client.delete("/api/v1/compute-machines/\(host.id)", token: f.admin).status == 409)

            // Its VM is readable by its owner and not by another tenant.
            let vmId = try #require(try await f.instance(accepted.instance.instance.id).instance.virtualMachineId)
            let vm = try await c.client.get("/api/v1/virtual-machines/\(vmId)", token: f.user.token)
            #expect(vm.status == 200)
            let vmRecord = try vm.decode(VirtualMachine.self)
            #expect(vmRecord.computeMachineId == host.id)
            let listed = try await c.client.get("/api/v1/virtual-machines?computeMachineId=\(host.id)", token: f.admin).decode(Page<VirtualMachine>.self)
            #expect(listed.items.map(\.id) == [vmId])
            let stranger = try await c.createUser("v-\(UUID().uuidString.prefix(5).lowercased())", role: .user,
                                                  tenant: try await c.createTenant("v-\(UUID().uuidString.prefix(5).lowercased())", token: f.admin).id,
                                                  token: f.admin)
            #expect(try await c.client.get("/api/v1/virtual-machines/\(vmId)", token: stranger.token).status == 404)
            #expect(try await c.client.get("/api/v1/virtual-machines", token: stranger.token).decode(Page<VirtualMachine>.self).items.isEmpty)

            // Once the instance is deleted the machine can be decommissioned and removed; the totals follow.
            _ = try await c.client.delete("/api/v1/instances/\(accepted.instance.instance.id)", token: f.user.token)
            let tasks = try await f.lease(host.credential)
            #expect(tasks.map(\.kind) == [.vmCreate, .vmDelete])
            for task in tasks { try await f.finish(task, credential: host.credential, state: task.kind == .vmCreate ? .running : nil) }
            #expect(try await f.instance(accepted.instance.instance.id).instance.status == .deleted)
            #expect(try await c.client.patch("/api/v1/compute-machines/\(host.id)", token: f.admin, ["status": "DECOMMISSIONING"]).status == 200)
            #expect(try await c.client.delete("/api/v1/compute-machines/\(host.id)", token: f.admin).status == 204)
            let pool = try await c.client.get("/api/v1/resource-pools/\(f.pool.id)", token: f.admin).decode(ResourcePool.self)
            #expect(pool.totalCpuCores == 0 && pool.allocatedCpuCores == 0)
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
        }
    }

    @Test(arguments: TestEngine.all)
    func anOfflineMachineKeepsItsInstancesUntilAnOperatorEvacuatesIt(engine: TestEngine) async throws {
        // No reconciler: until the test reports A's domain, A's heartbeats show none, and under load a pass in that
        // window would recreate it (what is tested here is liveness and the operator's evacuation, not drift).
        // OFFLINE after 10 silent seconds: on a loaded CI machine the test's own heartbeats (every 300 ms) have
        // stalled for more than 3 s, and A was OFFLINE before the instance could be placed on it.
        try await TestCoordinator.with(engine, configure: {
            $0.heartbeatIntervalSeconds = 1
            $0.missedHeartbeatsBeforeOffline = 10
            $0.reconcileIntervalSeconds = 86_400
        }) { c in
            let f = try await InstanceFixture.make(c)
            let a = try await f.addMachine(ip: "10.10.0.1", cpu: 8)
            let b = try await f.addMachine(ip: "10.10.0.2", cpu: 8)
            // Both hosts heartbeat every 300 ms until the test stops A's.
            let beating = Beating([a.credential, b.credential])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        for credential in beating.current { try? await f.heartbeat(credential, observed: beating.observed(credential)) }
                        try? await Task.sleep(for: .milliseconds(300))
                    }
                }
                // Place on A: B is made unavailable for the moment.
                #expect(try await c.client.patch("/api/v1/compute-machines/\(b.id)", token: f.admin, ["status": "MAINTENANCE"]).status == 200)
                let instance = try await f.running("mover", on: a)
                #expect(instance.computeMachineId == a.id)
                // A reports the domain running, so that the reconciler sees no drift while A is alive.
                let vm = try await c.client.get("/api/v1/virtual-machines/\(try #require(instance.virtualMachineId))", token: f.admin)
                    .decode(VirtualMachine.self)
                let domain = ObservedVm(vmUuid: try #require(vm.vmUuid), vmName: vm.vmName, state: .running)
                beating.report([domain], for: a.credential)
                #expect(try await c.client.patch("/api/v1/compute-machines/\(b.id)", token: f.admin, ["status": "ACTIVE"]).status == 200)

                // A stops heartbeating: OFFLINE, and the instance stays, shown unreachable.
                beating.set { $0.remove(a.credential) }
                try await eventually("machine A goes OFFLINE", within: 90) {
                    try await c.client.get("/api/v1/compute-machines/\(a.id)", token: f.admin).decode(ComputeMachine.self).status == .offline
                }
                let unreachable = try await f.instance(instance.id)
                #expect(unreachable.unreachable && unreachable.instance.status == .running && unreachable.instance.computeMachineId == a.id)

                let evacuate = try await c.client.post("/api/v1/compute-machines/\(a.id)/actions/evacuate", token: f.admin, [:])
                #expect(evacuate.status == 202, "\(evacuate.text)")
                let creates = try await f.lease(b.credential)
                #expect(creates.map(\.kind) == [.vmCreate])
                try await f.finish(creates[0], credential: b.credential, state: .running)
                beating.report([domain], for: b.credential)
                beating.report([], for: a.credential)
                let moved = try await f.instance(instance.id)
                #expect(moved.instance.computeMachineId == b.id && moved.instance.status == .running && !moved.unreachable)
                // A comes back and gets the clean-up; its result does not touch the moved instance.
                beating.set { $0.insert(a.credential) }
                let cleanup = try await f.lease(a.credential)
                #expect(cleanup.map(\.kind) == [.vmDelete])
                try await f.finish(cleanup[0], credential: a.credential)
                #expect(try await f.instance(instance.id).instance.status == .running)
                let machineA = try await c.client.get("/api/v1/compute-machines/\(a.id)", token: f.admin).decode(ComputeMachine.self)
                #expect(machineA.allocatedCpuCores == 0)
                let report = try await f.consistency()
                #expect(report.ok, "\(report.violations)")
                group.cancelAll()
            }
        }
    }
}

/// The credentials a test keeps heartbeating.
final class Beating: Sendable {
    private let credentials: Mutex<Set<String>>
    /// What each host reports it runs (nothing by default).
    private let observed = Mutex<[String: [ObservedVm]]>([:])
    init(_ credentials: Set<String>) { self.credentials = Mutex(credentials) }
    var current: Set<String> { credentials.withLock { $0 } }
    func set(_ change: (inout Set<String>) -> Void) { credentials.withLock { change(&$0) } }
    func observed(_ credential: String) -> [ObservedVm] { observed.withLock { $0[credential] ?? [] } }
    func report(_ vms: [ObservedVm], for credential: String) { observed.withLock { $0[credential] = vms } }
}
