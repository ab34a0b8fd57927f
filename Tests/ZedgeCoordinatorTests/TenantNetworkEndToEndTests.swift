import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Tenant networks end to end (issue #10) on the real libvirtd with QEMU (TCG) and Open vSwitch in userspace
/// mode: two tenants, each with a VPC and a subnet on its own VLAN (given automatically), one instance each
/// from the test-guest image through a real `zedge-agent`. Each guest's console shows the address the API gave
/// it; a namespace on tenant A's VLAN reaches A's guest; the same namespace with an address in B's subnet, left
/// on A's VLAN, gets nothing from B's guest (only the VLAN separates them); moved to B's VLAN it reaches it.
/// Deleting an instance freezes its address, which turns AVAILABLE after the cool-down (15 s here).
///
/// Needs root, ZEDGE_TEST_LIBVIRT_URI (`scripts/with-libvirtd.sh`), ZEDGE_TEST_OVS_BRIDGE (`scripts/with-ovs.sh`)
/// and ZEDGE_TEST_GUEST_IMAGE; `make test` provides them. Without one it fails, naming it.
@Suite("Tenant networks end to end", .serialized)
struct TenantNetworkEndToEndTests {
    typealias AgentProcess = AgentEndToEndTests.AgentProcess
    static let environment = ProcessInfo.processInfo.environment

    @Test func twoTenantsOnTheirOwnVlansReachOnlyTheirOwnGuests() async throws {
        let uri = try #require(Self.environment["ZEDGE_TEST_LIBVIRT_URI"], "needs a real libvirtd: run under scripts/with-libvirtd.sh (make test does)")
        let bridge = try #require(Self.environment["ZEDGE_TEST_OVS_BRIDGE"], "needs Open vSwitch: run under scripts/with-ovs.sh (make test does)")
        let imagePath = try #require(Self.environment["ZEDGE_TEST_GUEST_IMAGE"], "needs the test guest image: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))

        try await TestCoordinator.with(.sqlite, configure: {
            BootEndToEndTests.configure(&$0)
            $0.ipCoolDownSeconds = 15
            $0.tenantVlanRange = 310...319  // apart from the tags other suites use on the shared bridge
        }) { c in
            let admin = try await c.adminToken()
            let (imageId, _) = try await BootEndToEndTests.uploadImage(c, admin, bytes, name: "net-guest")
            let (machine, stateDir) = try await BootEndToEndTests.registerHost(c, admin, name: "net")
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            let agent = try AgentProcess(stateDir: stateDir, libvirtURI: uri, arguments: ["--domain-type", "qemu", "--integration-bridge", bridge])
            _ = agent
            try await eventually("the agent reports its integration bridge") {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).integrationBridge == bridge
            }
            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "net-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "baseImageId": imageId.uuidString,
            ]).decode(Template.self)

            // Two tenants, each a VPC in the machine's data center and a /24 with a gateway.
            struct TenantNet { let tenant: Tenant; let token: String; let subnet: Subnet; let vlan: Int; let prefix: String }
            var nets: [TenantNet] = []
            for (name, prefix) in [("net-a", "10.81.0"), ("net-b", "10.82.0")] {
                let tenant = try await c.createTenant(name, token: admin)
                let user = try await c.createUser("\(name)-user", role: .user, tenant: tenant.id, token: admin)
                let vpc = try await c.client.post("/api/v1/vpcs", token: user.token, [
                    "name": "\(name)-vpc", "cidrBlock": "\(prefix.dropLast(2)).0.0/16", "edgeDataCenterId": machine.edgeDataCenterId.uuidString,
                ])
                #expect(vpc.status == 201, "\(vpc.text)")
                let subnet = try await c.client.post("/api/v1/subnets", token: user.token, [
                    "name": "\(name)-lan", "vpcId": try vpc.decode(Vpc.self).id.uuidString, "cidrBlock": "\(prefix).0/24", "gateway": "\(prefix).1",
                ])
                #expect(subnet.status == 201, "\(subnet.text)")
                let vlan = try #require(try await c.client.get("/api/v1/tenants/\(tenant.id)", token: admin).decode(Tenant.self).vlanId)
                nets.append(TenantNet(tenant: tenant, token: user.token, subnet: try subnet.decode(Subnet.self), vlan: vlan, prefix: prefix))
            }
            let (a, b) = (nets[0], nets[1])
            #expect(a.vlan != b.vlan && (310...319).contains(a.vlan) && (310...319).contains(b.vlan))

            // One instance each, on its tenant's subnet.
            var guests: [(id: UUID, address: String)] = []
            for net in nets {
                let created = try await c.client.post("/api/v1/instances", token: net.token, [
                    "name": "guest", "templateId": template.id.uuidString, "networks": [["subnetId": net.subnet.id.uuidString]],
                ])
                #expect(created.status == 202, "\(created.text)")
                let instance = try created.decode(InstanceService.Accepted.self).instance.instance
                let nic = try #require(try instance.config?.decode(as: ResolvedInstanceConfig.self).networks?.first)
                #expect(nic.vlanId == net.vlan && nic.ipAddress.hasPrefix(net.prefix + "."))
                guests.append((instance.id, nic.ipAddress))
            }
            let start = ContinuousClock.now
            for (guest, net) in zip(guests, nets) {
                // The guest's own console line shows the address the API gave it.
                try await eventually("the guest prints its ZEDGE-GUEST line with \(guest.address)", within: 300) {
                    let response = try await c.client.get("/api/v1/instances/\(guest.id)/console-log?lines=200", token: net.token)
                    guard response.status == 200 else { return false }
                    return try response.decode(ConsoleLogOutput.self).lines.contains {
                        $0.contains("ZEDGE-GUEST instance-id=\(guest.id.uuidString.lowercased())") && $0.contains("address=\(guest.address)/24")
                    }
                }
            }
            print("tenant networks: two instances created -> both ZEDGE-GUEST lines in \((ContinuousClock.now - start).components.seconds) s (TCG)")

            let probe = try await VlanNamespace.create(tag: a.vlan, address: "\(a.prefix).250/24", bridge: bridge)
            do {
                // A's VLAN, A's subnet: A's guest answers, over ICMP and TCP.
                try await eventually("A's guest answers a ping on A's VLAN", within: 60) { await probe.ping(guests[0].address) }
                let page = await probe.httpGet(guests[0].address)
                #expect(page?.contains("ZEDGE-GUEST instance-id=\(guests[0].id.uuidString.lowercased())") == true, "\(page ?? "nothing")")
                // An address in B's subnet, still on A's VLAN: B's guest does not answer. Only the VLAN separates them.
                try await probe.setAddress("\(b.prefix).250/24")
                #expect(await probe.ping(guests[1].address, count: 5, timeout: 6) == false, "B's guest answered on A's VLAN")
                #expect(await probe.httpGet(guests[1].address, timeout: 3) == nil)
                // Moved to B's VLAN, it reaches B's guest.
                try await probe.move(toTag: b.vlan)
                try await eventually("B's guest answers on B's VLAN", within: 60) { await probe.ping(guests[1].address) }
                #expect(await probe.ping(guests[0].address, count: 3, timeout: 4) == false, "A's guest answered on B's VLAN")
            } catch {
                await probe.delete()
                throw error
            }
            await probe.delete()

            // Delete: the address is FROZEN, then AVAILABLE after the cool-down.
            let rowId = try #require(try await c.client.get("/api/v1/ip-addresses?ipAddress=\(guests[0].address)", token: a.token)
                .decode(Page<IpAddress>.self).items.first?.id)
            for (guest, net) in zip(guests, nets) {
                #expect(try await c.client.delete("/api/v1/instances/\(guest.id)", token: net.token).status == 202)
            }
            try await eventually("A's instance is DELETED", within: 120) {
                try await c.client.get("/api/v1/instances/\(guests[0].id)", token: admin).decode(InstanceView.self).instance.status == .deleted
            }
            let frozen = try await c.client.get("/api/v1/ip-addresses/\(rowId)", token: a.token).decode(IpAddress.self)
            #expect(frozen.status == .frozen, "\(frozen.status)")
            try await eventually("the address is AVAILABLE after the cool-down", within: 60) {
                try await c.client.get("/api/v1/ip-addresses/\(rowId)", token: a.token).decode(IpAddress.self).status == .available
            }
            try await eventually("B's instance is DELETED", within: 120) {
                try await c.client.get("/api/v1/instances/\(guests[1].id)", token: admin).decode(InstanceView.self).instance.status == .deleted
            }
        }
    }
}
