import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #12 fault 3: a body with a name repeated in one object, at any depth, on `/api` and `/agent` alike, is a
/// 400 naming the name's path, before anything is decoded or written (RFC 7493 §2.3).
@Suite struct DuplicateKeyTests {
    func post(_ c: TestCoordinator, _ path: String, token: String?, _ text: String) async throws -> APIResponse {
        try await c.client.send(.POST, path, token: token, rawBody: Data(text.utf8))
    }

    func expectRefused(_ response: APIResponse, naming field: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 400, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers.first(name: "Content-Type") == "application/problem+json", sourceLocation: sourceLocation)
        #expect(response.problemFields == [field], "\(response.text)", sourceLocation: sourceLocation)
    }

    func tenantNames(_ c: TestCoordinator, token: String) async throws -> [String] {
        try await c.client.get("/api/v1/tenants?limit=500", token: token).decode(Page<Tenant>.self).items.map(\.name)
    }

    @Test(arguments: TestEngine.all)
    func aTenantWithTwoNamesIsRefusedAndNotCreated(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let before = try await tenantNames(c, token: admin)
            expectRefused(try await post(c, "/api/v1/tenants", token: admin, #"{"name":"dup-a","name":"dup-b"}"#), naming: "name")
            // Escaped and plain spellings of one name are the same name.
            expectRefused(try await post(c, "/api/v1/tenants", token: admin, #"{"n\u0061me":"dup-a","name":"dup-b"}"#), naming: "name")
            expectRefused(try await post(c, "/api/v1/tenants", token: admin, #"{"name":"dup-a","quotaConfig":{"cpuCores":1,"cpuC\u006fres":64}}"#),
                          naming: "quotaConfig.cpuCores")
            #expect(try await tenantNames(c, token: admin) == before)
            // The same body without the repetition is created: the refusal was about the duplicate alone.
            #expect(try await post(c, "/api/v1/tenants", token: admin, #"{"name":"dup-a","quotaConfig":{"cpuCores":1}}"#).status == 201)
        }
    }

    @Test(arguments: TestEngine.all)
    func aLoginWithTwoPasswordsIsRefusedAndNotCountedAsAFailedLogin(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.loginLimits = .init(perUsername: 2, perAddress: 100, window: .seconds(600)) }) { c in
            let right = TestCoordinator.adminPassword
            for body in [#"{"username":"admin","password":"wrong-password","password":"\#(right)"}"#,
                         #"{"username":"admin","password":"\#(right)","password":"wrong-password"}"#,
                         #"{"username":"admin","password":"\#(right)","password":"\#(right)"}"#] {
                expectRefused(try await post(c, "/api/v1/auth/login", token: nil, body), naming: "password")
            }
            // Three refusals against a limit of two failures: had any counted, this login would be a 429.
            let login = try await c.client.post("/api/v1/auth/login", token: nil, ["username": "admin", "password": right])
            #expect(login.status == 200, "\(login.text)")
        }
    }

    @Test(arguments: TestEngine.all)
    func aNestedDuplicateInAnInstanceCreateIsRefusedByItsPath(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let (a, b, d) = (UUID(), UUID(), UUID())
            let body = #"{"name":"vm-dup","templateId":"\#(UUID())","networks":[{"subnetId":"\#(a)"},{"subnetId":"\#(b)","subnetId":"\#(d)"}]}"#
            expectRefused(try await post(c, "/api/v1/instances", token: admin, body), naming: "networks[1].subnetId")
            let twice = #"{"name":"vm-dup","templateId":"\#(UUID())","parameters":{"size":{"gb":1,"gb":2}}}"#
            expectRefused(try await post(c, "/api/v1/instances", token: admin, twice), naming: "parameters.size.gb")
            let instances = try await c.client.get("/api/v1/instances", token: admin).json()["items"] as? [Any]
            #expect(instances?.isEmpty == true)
        }
    }

    @Test(arguments: TestEngine.all)
    func aNestedDuplicateInAnAgentHeartbeatIsRefusedAndTheSameNameInTwoObjectsIsNot(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await AgentProtocolTests.Fixture.make(c)
            let registered = try await f.register(try await f.token()).decode(RegisterResponse.self)
            let machineId = try #require(registered.machineId)
            let beat = HeartbeatRequest(
                metrics: HostMetrics(cpuUsagePercent: 10, memoryUsagePercent: 40, diskUsagePercent: 20, temperature: 50, uptimeSeconds: 60),
                observedVms: [ObservedVm(vmUuid: UUID().uuidString, vmName: "vm-1", state: .running),
                              ObservedVm(vmUuid: UUID().uuidString, vmName: "vm-2", state: .running)],
                agentVersion: "test")
            let text = String(decoding: try ZedgeJSON.encoder().encode(beat), as: UTF8.self)
            let duplicated = text.replacingOccurrences(of: #""vmName":"vm-2""#, with: #""vmName":"vm-2","vmName":"vm-3""#)
            #expect(duplicated != text)
            expectRefused(try await post(c, "/agent/v1/heartbeat", token: registered.credential, duplicated), naming: "observedVms[1].vmName")
            let observed = "/api/v1/compute-machines/\(machineId)/observed-vms"
            #expect((try await c.client.get(observed, token: f.admin).json()["items"] as? [Any])?.isEmpty == true)

            // Both VMs carry vmUuid, vmName and state: the same names in different objects are legal.
            let accepted = try await post(c, "/agent/v1/heartbeat", token: registered.credential, text)
            #expect(accepted.status == 200, "\(accepted.text)")
            #expect((try await c.client.get(observed, token: f.admin).json()["items"] as? [Any])?.count == 2)
        }
    }

    @Test(arguments: TestEngine.all)
    func aRegistrationWithADuplicateDoesNotSpendTheEnrollmentToken(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await AgentProtocolTests.Fixture.make(c)
            let token = try await f.token(uses: 1)
            let facts = HostFacts(hostname: "edge-host-1", serialNumber: nil, cpuCores: 16, memoryGb: 64, storageGb: 1000,
                                  gpuCount: 0, gpuModel: nil, managementIp: "10.0.0.5", macAddress: "52:54:00:12:34:56",
                                  hypervisorType: .kvm)
            let text = String(decoding: try ZedgeJSON.encoder().encode(RegisterRequest(enrollmentToken: token, kind: .computeMachine, facts: facts)),
                              as: UTF8.self)
            let duplicated = text.replacingOccurrences(of: #""hostname":"edge-host-1""#, with: #""hostname":"edge-host-1","hostname":"edge-host-2""#)
            #expect(duplicated != text)
            expectRefused(try await post(c, "/agent/v1/register", token: nil, duplicated), naming: "facts.hostname")
            #expect(try await c.client.get("/api/v1/compute-machines", token: f.admin).decode(Page<ComputeMachine>.self).items.isEmpty)
            // The single-use token is still unspent.
            let registered = try await post(c, "/agent/v1/register", token: nil, text)
            #expect(registered.status == 201, "\(registered.text)")
        }
    }
}
