import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// The Open vSwitch integration bridge an agent reports (registration facts, then every heartbeat) is what
/// the machine shows as `connectionConfig.integrationBridge`: set, cleared when the bridge goes, set again
/// when it comes back, without a restart.
@Suite struct MachineIntegrationBridgeTests {
    typealias Fixture = AgentProtocolTests.Fixture

    static func register(_ f: Fixture, ip: String, bridge: String?) async throws -> APIResponse {
        let facts = HostFacts(hostname: "ovs-host-\(ip.split(separator: ".").last ?? "")", cpuCores: 8, memoryGb: 32, storageGb: 500,
                              managementIp: ip, hypervisorType: .kvm, domainType: "qemu", integrationBridge: bridge)
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
            RegisterRequest(enrollmentToken: try await f.token(), kind: .computeMachine, facts: facts))) as! [String: Any]
        return try await f.c.client.post("/agent/v1/register", token: nil, body)
    }

    static func heartbeat(_ f: Fixture, _ credential: String, bridge: String?) async throws -> APIResponse {
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(HeartbeatRequest(
            metrics: HostMetrics(cpuUsagePercent: 5), observedVms: [], agentVersion: "test", integrationBridge: bridge))) as! [String: Any]
        return try await f.c.client.post("/agent/v1/heartbeat", token: credential, body)
    }

    static func machine(_ f: Fixture, _ id: UUID) async throws -> ComputeMachine {
        try await f.c.client.get("/api/v1/compute-machines/\(id)", token: f.admin).decode(ComputeMachine.self)
    }

    @Test(arguments: TestEngine.all)
    func registrationAndHeartbeatsRecordTheBridge(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.heartbeatIntervalSeconds = 1 }) { c in
            let f = try await Fixture.make(c)

            // Registered with the bridge: the machine shows it (beside the domain type).
            let withBridge = try await Self.register(f, ip: "10.0.0.21", bridge: "br-zedge").decode(RegisterResponse.self)
            let a = try #require(withBridge.machineId)
            var machine = try await Self.machine(f, a)
            #expect(machine.integrationBridge == "br-zedge")
            #expect(machine.connectionConfig?.objectValue?["integrationBridge"]?.stringValue == "br-zedge")
            #expect(machine.connectionConfig?.objectValue?["domainType"]?.stringValue == "qemu")

            // Registered without: none.
            let without = try await Self.register(f, ip: "10.0.0.22", bridge: nil).decode(RegisterResponse.self)
            let b = try #require(without.machineId)
            machine = try await Self.machine(f, b)
            #expect(machine.integrationBridge == nil && machine.connectionConfig?.objectValue?["integrationBridge"] == nil)

            // The bridge goes (a heartbeat without it), and B's operator makes one: both show within a flush.
            #expect(try await Self.heartbeat(f, withBridge.credential, bridge: nil).status == 200)
            #expect(try await Self.heartbeat(f, without.credential, bridge: "br-tenant").status == 200)
            try await eventually("A shows no bridge and B shows br-tenant") {
                let shownA = try await Self.machine(f, a).integrationBridge
                let shownB = try await Self.machine(f, b).integrationBridge
                return shownA == nil && shownB == "br-tenant"
            }
            // A's comes back; the domain type stays as registered.
            #expect(try await Self.heartbeat(f, withBridge.credential, bridge: "br-zedge").status == 200)
            try await eventually("A shows br-zedge again") { try await Self.machine(f, a).integrationBridge == "br-zedge" }
            machine = try await Self.machine(f, a)
            #expect(machine.connectionConfig?.objectValue?["domainType"]?.stringValue == "qemu")

            // Steady reports change nothing (and are not written again).
            let before = try await Self.machine(f, b).updatedAt
            for _ in 0..<3 { #expect(try await Self.heartbeat(f, without.credential, bridge: "br-tenant").status == 200) }
            try await eventually("B's heartbeats are stored") { try await Self.machine(f, b).lastHeartbeat != nil }
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await Self.machine(f, b).updatedAt == before)

            // Registering again without the bridge clears it.
            let again = try await Self.register(f, ip: "10.0.0.21", bridge: nil).decode(RegisterResponse.self)
            #expect(again.machineId == a)
            #expect(try await Self.machine(f, a).integrationBridge == nil)
        }
    }

    @Test func aBridgeMustBeALinuxInterfaceName() async throws {
        try await TestCoordinator.with(.sqlite) { c in
            let f = try await Fixture.make(c)
            for bad in ["", "br zedge", "br-zedge-is-too-long", "..", "br/0"] {
                let refused = try await Self.register(f, ip: "10.0.0.31", bridge: bad)
                #expect(refused.status == 400 && refused.problemFields == ["facts.integrationBridge"], "\(bad): \(refused.text)")
            }
            let registered = try await Self.register(f, ip: "10.0.0.31", bridge: "br_z.1").decode(RegisterResponse.self)
            let bad = try await Self.heartbeat(f, registered.credential, bridge: "x;reboot")
            #expect(bad.status == 400 && bad.problemFields == ["integrationBridge"], "\(bad.text)")
        }
    }
}
