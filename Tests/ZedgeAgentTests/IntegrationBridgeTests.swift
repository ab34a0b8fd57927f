import Foundation
import Logging
import Synchronization
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// The agent's Open vSwitch integration bridge: its setting, the `ovs-vsctl br-exists` check, the once-a-minute
/// re-check that notices a bridge made later, and the `vm.create` refusal when a NIC's bridge is missing.
///
/// The checks against a real Open vSwitch need `scripts/with-ovs.sh` (make test runs the suite under it), which
/// sets ZEDGE_TEST_OVS_BRIDGE; without it they fail, saying so.
@Suite("Integration bridge (Open vSwitch)", .serialized)
struct IntegrationBridgeTests {
    static let logger = Logger(label: "zedge.test.integration-bridge")

    /// The bridge with-ovs.sh made, after checking that Open vSwitch really answers for it.
    static func runningBridge() async throws -> String {
        let bridge = try #require(ProcessInfo.processInfo.environment["ZEDGE_TEST_OVS_BRIDGE"],
                                  "needs Open vSwitch with its br-zedge: run under scripts/with-ovs.sh (make test does)")
        let answer = await OVSBridgeProbe().check(bridge)
        try #require(answer == .present, "Open vSwitch does not answer for \(bridge): \(answer)")
        return bridge
    }

    static func vsctl(_ arguments: [String]) async throws -> Int32 {
        let executable = try #require(ChildProcess.find("ovs-vsctl"), "ovs-vsctl is not installed")
        return try await ChildProcess.exitStatus(executable, ["--timeout=10"] + arguments).status
    }

    @Test func theSettingComesFromFlagEnvironmentOrFileAndIsAnInterfaceName() throws {
        #expect(try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: nil).integrationBridge == "br-zedge")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-bridge-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.json").path
        try #"{"integrationBridge": "br-file"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file).integrationBridge == "br-file")
        let environment = ["ZEDGE_AGENT_INTEGRATION_BRIDGE": "br-env"]
        #expect(try AgentConfiguration.resolve(flags: [:], environment: environment, configFile: file).integrationBridge == "br-env")
        #expect(try AgentConfiguration.resolve(flags: [.integrationBridge: "br-flag"], environment: environment, configFile: file)
            .integrationBridge == "br-flag")
        #expect(AgentConfiguration.Key.integrationBridge.flag == "--integration-bridge")
        #expect(AgentConfiguration.Key.integrationBridge.environmentVariable == "ZEDGE_AGENT_INTEGRATION_BRIDGE")
        for bad in ["br zedge", "a-bridge-name-too-long", "", "br/0"] {
            #expect(throws: AgentError.self, "\(bad)") {
                try AgentConfiguration.resolve(flags: [.integrationBridge: bad], environment: [:], configFile: nil)
            }
        }
        do {
            _ = try AgentConfiguration.resolve(flags: [.integrationBridge: "br;x"], environment: [:], configFile: nil)
        } catch {
            #expect("\(error)".hasPrefix("--integration-bridge: \"br;x\" is not a Linux interface name"), "\(error)")
        }
    }

    @Test func withoutOvsVsctlTheAnswerIsUnknownAndSaysWhy() async throws {
        let answer = await OVSBridgeProbe(ovsVsctl: "/nonexistent/ovs-vsctl").check("br-zedge")
        guard case .unknown(let reason) = answer else { Issue.record("\(answer)"); return }
        #expect(reason.contains("/nonexistent/ovs-vsctl"))
        let problem = try #require(IntegrationBridge.problem(bridge: "br-zedge", answer: answer))
        #expect(problem.contains("ovs-vsctl add-br br-zedge"), "\(problem)")
        let bridge = IntegrationBridge(name: "br-zedge", probe: OVSBridgeProbe(ovsVsctl: "/nonexistent/ovs-vsctl"), logger: Self.logger)
        #expect(await bridge.reportedName() == nil)
    }

    @Test func ovsSaysWhichBridgesExist() async throws {
        let bridge = try await Self.runningBridge()
        #expect(await OVSBridgeProbe().check(bridge) == .present)
        #expect(await OVSBridgeProbe().check("zt-no-\(UUID().uuidString.prefix(6).lowercased())") == .absent)
        #expect(await IntegrationBridge(name: bridge, logger: Self.logger).reportedName() == bridge)
    }

    /// A clock the test moves by hand.
    final class SteppedClock: Sendable {
        let start = ContinuousClock.now
        let offset = Mutex<Duration>(.zero)
        func now() -> ContinuousClock.Instant { start.advanced(by: offset.withLock { $0 }) }
        func advance(_ by: Duration) { offset.withLock { $0 += by } }
    }

    /// An operator who makes the bridge after the agent started is seen at the next re-check (a minute later),
    /// without a restart; until then the answer is the cached one.
    @Test func aBridgeMadeLaterIsSeenAtTheNextRecheck() async throws {
        _ = try await Self.runningBridge()
        let name = "zt-br-\(UUID().uuidString.prefix(6).lowercased())"
        let clock = SteppedClock()
        let bridge = IntegrationBridge(name: name, logger: Self.logger, now: { clock.now() })
        #expect(await bridge.reportedName() == nil)
        #expect(try await Self.vsctl(["add-br", name, "--", "set", "bridge", name, "datapath_type=netdev"]) == 0)
        do {
            clock.advance(.seconds(59))
            #expect(await bridge.reportedName() == nil)  // cached
            clock.advance(.seconds(1))
            #expect(await bridge.reportedName() == name)
            #expect(try await Self.vsctl(["del-br", name]) == 0)
            #expect(await bridge.reportedName() == name)  // cached again
            #expect(await bridge.check() == .absent)  // asked now (what vm.create does)
            #expect(await bridge.reportedName() == nil)
        } catch {
            _ = try? await Self.vsctl(["--if-exists", "del-br", name])
            throw error
        }
    }

    /// A NIC on a missing Open vSwitch bridge fails `vm.create` before anything is defined, naming the bridge
    /// and the command that makes it (with or without a running Open vSwitch: absent or unknown).
    @Test func vmCreateOnAMissingBridgeFailsNamingIt() async throws {
        let missing = "zt-miss-\(UUID().uuidString.prefix(5).lowercased())"
        let hypervisor = LibvirtHypervisor(uri: "test:///default")
        var spec = minimalVmSpec(name: "zt-ovs-\(UUID().uuidString.prefix(8).lowercased())")
        spec.nics = [NicSpec(mac: "52:54:00:0a:00:63", attachment: .bridge(missing), vlanTag: 100, virtualPort: .openvswitch)]
        let executor = TaskExecutor(hypervisor: hypervisor, integrationBridge: IntegrationBridge(name: "br-zedge", logger: Self.logger))
        let result = await executor.execute(.vmCreate, payload: try JSONValue(encoding: VmCreatePayload(spec: spec, start: true)))
        #expect(result.outcome == .failed)
        let error = result.error ?? ""
        #expect(error.contains("Open vSwitch bridge \(missing)") && error.contains("ovs-vsctl add-br \(missing)"), "\(error)")
        #expect(try await hypervisor.state(uuid: spec.uuid) == nil)
        // The same NIC without virtualPort is invalid (a tag on a bridge needs it), before any check.
        spec.nics[0].virtualPort = nil
        let invalid = await executor.execute(.vmCreate, payload: try JSONValue(encoding: VmCreatePayload(spec: spec)))
        #expect(invalid.outcome == .failed && (invalid.error ?? "").contains("spec.nics[0].vlanTag"), "\(invalid.error ?? "")")
    }
}
