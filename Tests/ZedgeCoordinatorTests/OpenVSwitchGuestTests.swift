import Foundation
import Logging
import Testing
import ZedgeAgent
import ZedgeCore
@testable import ZedgeCoordinator

/// A guest on a tenant VLAN through the agent's own `vm.create` path, on the real libvirtd and Open vSwitch in
/// userspace mode (../shared/recipes/tenant-networks-on-these-machines.md): the test guest image, an overlay, a
/// seed with a static address, and a NIC on the integration bridge with tag 100. A namespace on tag 100 pings it
/// and reads its ZEDGE-GUEST line over HTTP; one on tag 200 with an address in the same subnet gets nothing
/// until it is moved to tag 100. Open vSwitch shows the VM's port with tag 100, and no longer once it is deleted.
///
/// Needs root, ZEDGE_TEST_LIBVIRT_URI (`scripts/with-libvirtd.sh`), ZEDGE_TEST_OVS_BRIDGE (`scripts/with-ovs.sh`)
/// and ZEDGE_TEST_GUEST_IMAGE (`scripts/test-guest-image.sh`); `make test` provides all of them. Without one it
/// fails, naming it.
@Suite("Open vSwitch: a guest on a tenant VLAN", .serialized)
struct OpenVSwitchGuestTests {
    static let environment = ProcessInfo.processInfo.environment
    /// Its own state dir under /var/lib (QEMU runs as libvirt-qemu and must reach the overlay's base and the seed).
    static let stateDir = "/var/lib/zedge-ovs-test"
    static let logger = Logger(label: "zedge.test.ovs")
    /// The tenant's subnet (the namespaces and the guest); unusual, so it meets no other test's.
    static let subnet = "10.77.100"
    static let tenantTag = 100
    static let otherTag = 200

    /// The guest-visible size in a qcow2 header (offset 24, 8 bytes big-endian).
    static func qcow2VirtualSize(_ data: Data) -> Int64 {
        Int64(data.prefix(32).suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    static func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// The OVS port libvirt made for the NIC with `mac` (libvirt records it as external_ids:attached-mac); nil if none.
    static func port(attachedMac mac: String) async throws -> String? {
        let name = trimmed(try await ProcessRunner.systemChecked(
            "ovs-vsctl", ["--timeout=10", "--bare", "--columns=name", "find", "Interface", "external_ids:attached-mac=\"\(mac)\""]))
        return name.isEmpty ? nil : name
    }

    @Test  // needs root, a real libvirtd, Open vSwitch and the test guest image (make test); fails without, never skips
    func aGuestOnItsVlanAnswersThatVlanOnly() async throws {
        let uri = try #require(Self.environment["ZEDGE_TEST_LIBVIRT_URI"], "needs a real libvirtd: run under scripts/with-libvirtd.sh (make test does)")
        let bridge = try #require(Self.environment["ZEDGE_TEST_OVS_BRIDGE"], "needs Open vSwitch with br-zedge: run under scripts/with-ovs.sh (make test does)")
        let imagePath = try #require(Self.environment["ZEDGE_TEST_GUEST_IMAGE"], "needs the test guest image: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let answer = await OVSBridgeProbe().check(bridge)
        try #require(answer == .present, "Open vSwitch is not running with \(bridge): \(answer)")

        // The agent's pieces, as `zedge-agent run` wires them, with the image already in its cache (as an
        // image.fetch leaves it: nothing is downloaded, so the downloader points nowhere).
        let layout = AgentLayout(stateDirectory: Self.stateDir)
        try layout.prepare()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))
        let image = ImageRef(imageId: UUID(), versionId: UUID(), sha256: SHA256Hex.of(bytes), sizeBytes: Int64(bytes.count),
                             virtualSizeBytes: Self.qcow2VirtualSize(bytes), format: .qcow2)
        let cached = "\(layout.imagesDirectory)/\(image.sha256)"
        if !FileManager.default.fileExists(atPath: cached) {
            try bytes.write(to: URL(fileURLWithPath: cached), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: cached)
        }
        let connection = LibvirtConnection(uri: uri)
        let hypervisor = LibvirtHypervisor(connection: connection, domainType: "qemu", cpuMode: .hypervisorDefault, layout: layout,
                                           pollInterval: .milliseconds(200))
        let storage = LibvirtStorage(connection: connection)
        let images = ImageCache(
            directory: layout.imagesDirectory, capacityBytes: 1 << 30,
            downloader: ImageDownloader(client: CoordinatorClient(baseURL: "https://127.0.0.1:9", caPEM: "", credential: nil)),
            usage: { try await ComputeResources.imagesInUse(hypervisor: hypervisor, storage: storage, pool: layout.diskPoolName) }, logger: Self.logger)
        let executor = TaskExecutor(hypervisor: hypervisor, compute: ComputeResources(layout: layout, images: images, storage: storage),
                                    integrationBridge: IntegrationBridge(name: bridge, logger: Self.logger))

        // Tenant 100 at .1; another tenant's namespace on tag 200, in the same subnet, at .2.
        let tenant = try await VlanNamespace.create(tag: Self.tenantTag, address: "\(Self.subnet).1/24", bridge: bridge)
        let other: VlanNamespace
        do { other = try await VlanNamespace.create(tag: Self.otherTag, address: "\(Self.subnet).2/24", bridge: bridge) } catch {
            await tenant.delete()
            throw error
        }

        let id = UUID()
        let tag = id.uuidString.prefix(8).lowercased()
        let name = "zt-ovs-\(tag)"
        let mac = "52:54:00:\(tag.prefix(2)):\(tag.dropFirst(2).prefix(2)):\(tag.dropFirst(4).prefix(2))"
        let guest = "\(Self.subnet).10"
        let spec = VmSpec(
            name: name, uuid: id, vcpus: 1, memoryMiB: 256,
            rootDisk: DiskSpec(source: .volume(pool: VmSpec.diskPool, name: VmSpec.rootVolumeName(vmName: name)), target: "vda",
                               format: .qcow2),
            nics: [NicSpec(mac: mac, attachment: .bridge(bridge), vlanTag: Self.tenantTag, virtualPort: .openvswitch)],
            rootImage: RootImageSpec(image: image, sizeGb: 1),
            cloudInit: CloudInitSeed(instanceId: "i-\(tag)", localHostname: name, networkConfig: """
                version: 2
                ethernets:
                  nic0:
                    match: {macaddress: "\(mac)"}
                    addresses: [\(guest)/24]
                    gateway4: \(Self.subnet).1

                """))
        let delete = { await executor.execute(.vmDelete, payload: try JSONValue(encoding: VmRefPayload(vmUuid: id, vmName: name))) }
        do {
            let started = ContinuousClock.now
            let created = await executor.execute(.vmCreate, payload: try JSONValue(encoding: VmCreatePayload(spec: spec, start: true)))
            try #require(created.outcome == .succeeded, "vm.create: \(created.error ?? "")")
            let running = ContinuousClock.now - started

            // Tag 100 reaches it: the first ping, then the guest's own line over TCP.
            var answered = false
            let deadline = ContinuousClock.now + .seconds(180)
            while !answered, ContinuousClock.now < deadline { answered = await tenant.ping(guest, count: 1, timeout: 1) }
            let firstPing = ContinuousClock.now - started
            try #require(answered, "no ping from tag \(Self.tenantTag) within 180 s; console: \((try? String(contentsOfFile: layout.consoleLogPath(id), encoding: .utf8))?.suffix(1500) ?? "none")")
            // The guest sets its address, then starts its HTTP server: a ping can come first.
            var answer: String?
            let httpDeadline = ContinuousClock.now + .seconds(30)
            while answer == nil, ContinuousClock.now < httpDeadline {
                answer = await tenant.httpGet(guest)
                if answer == nil { try await Task.sleep(for: .milliseconds(250)) }
            }
            let page = try #require(answer, "no HTTP answer from \(guest) on tag \(Self.tenantTag) within 30 s")
            #expect(page.contains("ZEDGE-GUEST instance-id=i-\(tag) hostname=\(name) "), "\(page)")
            #expect(page.contains("address=\(guest)/24"), "\(page)")

            // Tag 200, same subnet: no answer, neither ping nor TCP.
            #expect(!(await other.ping(guest, count: 3, timeout: 3)), "tag \(Self.otherTag) reached the tag \(Self.tenantTag) guest")
            #expect(await other.httpGet(guest, timeout: 3) == nil)

            // Open vSwitch has the VM's port, an access port of tag 100.
            let port = try #require(try await Self.port(attachedMac: mac), "no OVS interface with attached-mac \(mac)")
            #expect(Self.trimmed(try await ProcessRunner.systemChecked("ovs-vsctl", ["--timeout=10", "get", "Port", port, "tag"])) == "\(Self.tenantTag)")
            #expect(Self.trimmed(try await ProcessRunner.systemChecked("ovs-vsctl", ["--timeout=10", "port-to-br", port])) == bridge)

            // Only the VLAN separated them: moved to tag 100 (and given another address) the namespace reaches it.
            try await other.move(toTag: Self.tenantTag)
            #expect(try await other.tag() == Self.tenantTag)
            try await other.setAddress("\(Self.subnet).3/24")
            #expect(await other.ping(guest, count: 3, timeout: 10), "moved to tag \(Self.tenantTag), the namespace gets no answer")
            #expect(await other.httpGet(guest)?.contains("ZEDGE-GUEST instance-id=i-\(tag)") == true)
            print("OVS guest (TCG) on \(uri), tag \(Self.tenantTag): vm.create→running \(String(format: "%.2f", running.seconds)) s, vm.create→first ping \(String(format: "%.1f", firstPing.seconds)) s")

            // Deleted, the VM leaves no port behind.
            let deleted = try await delete()
            #expect(deleted.outcome == .succeeded, "\(deleted.error ?? "")")
            #expect(try await Self.port(attachedMac: mac) == nil)
        } catch {
            _ = try? await delete()
            await tenant.delete()
            await other.delete()
            throw error
        }
        await tenant.delete()
        await other.delete()
    }
}

extension OpenVSwitchGuestTests {
    /// Real `zedge-agent` processes: `register` reports the bridge when Open vSwitch has it, and nothing for a
    /// bridge it lacks; `run` reports on every heartbeat what it finds with its own setting (here from
    /// ZEDGE_AGENT_INTEGRATION_BRIDGE), so the coordinator's record follows the host.
    @Test  // needs Open vSwitch (make test); fails without, never skips
    func realAgentsReportTheirBridge() async throws {
        let bridge = try #require(Self.environment["ZEDGE_TEST_OVS_BRIDGE"], "needs Open vSwitch with br-zedge: run under scripts/with-ovs.sh (make test does)")
        let answer = await OVSBridgeProbe().check(bridge)
        try #require(answer == .present, "Open vSwitch is not running with \(bridge): \(answer)")
        let absent = "zt-no-\(UUID().uuidString.prefix(6).lowercased())"
        try await TestCoordinator.with(.sqlite, configure: { $0.heartbeatIntervalSeconds = 1 }) { c in
            let admin = try await c.adminToken()
            let center = try await c.client.post("/api/v1/edge-data-centers", token: admin, ["name": "ovs-dc"]).decode(EdgeDataCenter.self)
            let pool = try await c.client.post("/api/v1/resource-pools", token: admin, ["name": "ovs-pool", "edgeDataCenterId": center.id.uuidString])
                .decode(ResourcePool.self)
            let enrollment = try await c.client.post("/api/v1/enrollment-tokens", token: admin, [
                "edgeDataCenterId": center.id.uuidString, "resourcePoolId": pool.id.uuidString, "kind": "COMPUTE_MACHINE", "uses": 2,
            ])
            let token = try #require(try enrollment.json()["token"] as? String, "\(enrollment.text)")
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-ovs-\(UUID().uuidString.prefix(8))").path
            defer { try? FileManager.default.removeItem(atPath: root) }
            for (host, flags) in [("ovs-with", ["--integration-bridge", bridge]), ("ovs-without", ["--integration-bridge", absent])] {
                let registered = try await ProcessRunner.run("zedge-agent", [
                    "register", "--coordinator", c.baseURL, "--token", token, "--ca-hash", try #require(c.started.caFingerprint),
                    "--state-dir", "\(root)/\(host)", "--management-ip", host == "ovs-with" ? "198.51.100.21" : "198.51.100.22",
                    "--hostname", host, "--libvirt-uri", "test:///default",
                ] + flags)
                #expect(registered.status == 0, "\(registered.stderr)")
            }
            let machines = try await c.client.get("/api/v1/compute-machines", token: admin).decode(Page<ComputeMachine>.self).items
            let with = try #require(machines.first { $0.hostname == "ovs-with" })
            let without = try #require(machines.first { $0.hostname == "ovs-without" })
            #expect(with.integrationBridge == bridge, "\(String(describing: with.connectionConfig))")
            #expect(without.integrationBridge == nil, "\(String(describing: without.connectionConfig))")

            // The first host's agent now runs with a bridge this host lacks: its heartbeats clear the record.
            let agent = try AgentEndToEndTests.AgentProcess(stateDir: "\(root)/ovs-with", environment: ["ZEDGE_AGENT_INTEGRATION_BRIDGE": absent])
            _ = agent
            try await eventually("the running agent's heartbeats report no bridge") {
                try await c.client.get("/api/v1/compute-machines/\(with.id)", token: admin).decode(ComputeMachine.self).integrationBridge == nil
            }
        }
    }
}

extension Duration {
    /// The duration in seconds, fractional.
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
