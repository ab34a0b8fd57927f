import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Instances on tenant networks (issue #10) with agents played by the test: each NIC gets an address, a MAC,
/// the subnet's VLAN and the guest's static network-config; placement needs the OVS bridge and the subnets'
/// data center; delete releases the addresses once; evacuation keeps them.
@Suite("Instances on tenant networks")
struct InstanceNetworkTests {
    /// The fixture's tenant with a VPC in the fixture's data center and one /28 subnet with a gateway.
    static func network(_ f: InstanceFixture, cidr: String = "10.40.1.0/28") async throws -> (vpc: Vpc, subnet: Subnet) {
        let vpc = try await f.c.client.post("/api/v1/vpcs", token: f.user.token, [
            "name": "net", "cidrBlock": "10.40.0.0/16", "edgeDataCenterId": f.dataCenter.id.uuidString, "dnsServers": ["10.40.0.2"],
        ])
        guard vpc.status == 201 else { throw TestFailure("vpc: \(vpc.text)") }
        let gateway = cidr.replacingOccurrences(of: ".0/28", with: ".1")
        let subnet = try await f.c.client.post("/api/v1/subnets", token: f.user.token, [
            "name": "lan", "vpcId": try vpc.decode(Vpc.self).id.uuidString, "cidrBlock": cidr, "gateway": gateway,
        ])
        guard subnet.status == 201 else { throw TestFailure("subnet: \(subnet.text)") }
        return (try vpc.decode(Vpc.self), try subnet.decode(Subnet.self))
    }

    @Test(arguments: TestEngine.all)
    func nicsGetAddressesVlansAndNetworkConfig(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { InstanceFixture.patient(&$0); $0.ipCoolDownSeconds = 3600 }) { c in
            let f = try await InstanceFixture.make(c)
            let plain = try await f.addMachine(ip: "10.60.0.1")  // no OVS bridge
            let (_, subnet) = try await Self.network(f)
            let networks: [[String: Any]] = [["subnetId": subnet.id.uuidString]]

            // No machine with an integration bridge: 409 saying so.
            let refused = try await f.create("web", extra: ["networks": networks])
            #expect(refused.status == 409 && refused.text.contains("Open vSwitch"), "\(refused.text)")
            #expect(try await f.lease(plain.credential).isEmpty)

            let host = try await f.addMachine(ip: "10.60.0.2", bridge: "br-zedge")
            let accepted = try await f.create("web", extra: ["networks": networks])
            #expect(accepted.status == 202, "\(accepted.text)")
            let instance = try accepted.decode(InstanceService.Accepted.self).instance.instance
            #expect(instance.computeMachineId == host.id)
            let config = try #require(try instance.config?.decode(as: ResolvedInstanceConfig.self))
            let nic = try #require(config.networks?.first)
            #expect(nic.ipAddress == "10.40.1.2" && nic.prefixLength == 28 && nic.gateway == "10.40.1.1" && nic.dnsServers == ["10.40.0.2"])
            let tenant = try await c.client.get("/api/v1/tenants/\(f.tenant.id)", token: f.admin).decode(Tenant.self)
            #expect(nic.vlanId == tenant.vlanId)

            // vm.create carries the NIC on the host's bridge with the VLAN tag, and the seed's static address.
            let task = try #require(try await f.lease(host.credential).first)
            let spec = try task.payload.decode(as: VmCreatePayload.self).spec
            #expect(spec.nics.count == 1)
            #expect(spec.nics.first?.mac == nic.macAddress && spec.nics.first?.vlanTag == nic.vlanId)
            #expect(spec.nics.first?.attachment == .bridge("br-zedge") && spec.nics.first?.virtualPort == .openvswitch)
            #expect(spec.validate().isEmpty, "\(spec.validate())")
            let seed = try #require(spec.cloudInit?.networkConfig)
            #expect(seed.contains("\"10.40.1.2/28\"") && seed.contains("via: \"10.40.1.1\"") && seed.contains(nic.macAddress), "\(seed)")
            let vm = try await c.client.get("/api/v1/virtual-machines/\(try #require(instance.virtualMachineId))", token: f.admin)
                .decode(VirtualMachine.self)
            #expect(vm.ipAddress == nic.ipAddress && vm.macAddress == nic.macAddress)
            try await f.finish(task, credential: host.credential, state: .running)

            // The address row is the instance's; asking for a taken address for a second instance is a 409.
            let row = try await c.client.get("/api/v1/ip-addresses/\(nic.ipAddressId)", token: f.user.token).decode(IpAddress.self)
            #expect(row.status == .allocated && row.instanceId == instance.id && row.macAddress == nic.macAddress)
            // Its lease, status and MAC follow the instance: not changed by hand.
            let leased = try await c.client.patch("/api/v1/ip-addresses/\(nic.ipAddressId)", token: f.user.token, [
                "leaseExpiresAt": ZedgeJSON.formatDate(Date().addingTimeInterval(60)),
            ])
            #expect(leased.status == 409, "\(leased.text)")
            let outside = try await f.create("outside", extra: ["networks": [["subnetId": subnet.id.uuidString, "ipAddress": "10.40.9.9"]]])
            #expect(outside.status == 422 && problemField(outside) == "networks[0].ipAddress", "\(outside.text)")
            let clash = try await f.create("clash", extra: ["networks": [["subnetId": subnet.id.uuidString, "ipAddress": "10.40.1.2"]]])
            #expect(clash.status == 409 && problemField(clash) == "networks[0].ipAddress", "\(clash.text)")
            let foreign = try await f.create("x", extra: ["networks": [["subnetId": UUID().uuidString]]])
            #expect(foreign.status == 422 && problemField(foreign) == "networks[0].subnetId", "\(foreign.text)")
            let twice = try await f.create("x", extra: ["networks": networks + networks])
            #expect(twice.status == 422 && problemField(twice) == "networks[1].subnetId", "\(twice.text)")

            // Delete, asked twice: the address is released once, into the cool-down.
            #expect(try await c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token).status == 202)
            #expect(try await c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token).status == 202)
            let delete = try await f.lease(host.credential)
            #expect(delete.map(\.kind) == [.vmDelete])
            try await f.finish(delete[0], credential: host.credential)
            try await eventually("the instance is DELETED") { try await f.instance(instance.id).instance.status == .deleted }
            let released = try await c.client.get("/api/v1/ip-addresses/\(nic.ipAddressId)", token: f.user.token).decode(IpAddress.self)
            #expect(released.status == .frozen)
            let frozenUntil = try #require(released.leaseExpiresAt)
            #expect(try await c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token).status == 202)
            let still = try await c.client.get("/api/v1/ip-addresses/\(nic.ipAddressId)", token: f.user.token).decode(IpAddress.self)
            #expect(still.status == .frozen && still.leaseExpiresAt == frozenUntil)
            // A new instance does not get the frozen address.
            let next = try await f.create("next", extra: ["networks": networks])
            let nextNic = try #require(try next.decode(InstanceService.Accepted.self).instance.instance.config?
                .decode(as: ResolvedInstanceConfig.self).networks?.first)
            #expect(nextNic.ipAddress == "10.40.1.3")
            let report = try await f.consistency()
            #expect(report.ok, "\(report.violations)")
        }
    }

    @Test(arguments: TestEngine.all)
    func aTemplatesNetworkConfigGivesTheDefaultNics(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.62.0.1", bridge: "br-zedge")
            let (_, subnet) = try await Self.network(f, cidr: "10.40.3.0/28")
            let template = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "networked", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "networkConfig": ["networks": [["subnetId": subnet.id.uuidString]]],
            ])
            #expect(template.status == 201, "\(template.text)")
            let templateId = try template.decode(Template.self).id
            let created = try await c.client.post("/api/v1/instances", token: f.user.token, ["name": "t", "templateId": templateId.uuidString])
            #expect(created.status == 202, "\(created.text)")
            let spec = try #require(try await f.lease(host.credential).first).payload.decode(as: VmCreatePayload.self).spec
            #expect(spec.nics.count == 1 && spec.cloudInit?.networkConfig?.contains("\"10.40.3.2/28\"") == true)
            // The request's own networks win; an empty list means no NIC.
            let bare = try await c.client.post("/api/v1/instances", token: f.user.token, [
                "name": "bare", "templateId": templateId.uuidString, "networks": [] as [Any],
            ])
            #expect(bare.status == 202, "\(bare.text)")
            let bareSpec = try #require(try await f.lease(host.credential).first).payload.decode(as: VmCreatePayload.self).spec
            #expect(bareSpec.nics.isEmpty)
            // A template whose networks do not say which subnet is refused, naming the field.
            let sloppy = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "sloppy", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "networkConfig": ["networks": [["subnet": "lan"]]],
            ])
            #expect(sloppy.status == 422 && problemField(sloppy) == "networkConfig.networks[0]", "\(sloppy.text)")
            // Another tenant's instance cannot use the template's subnet: 400 naming the field.
            let stranger = try await c.createTenant("stranger", token: f.admin)
            let other = try await c.createUser("stranger-user", role: .user, tenant: stranger.id, token: f.admin)
            let refused = try await c.client.post("/api/v1/instances", token: other.token, ["name": "s", "templateId": templateId.uuidString])
            #expect(refused.status == 422 && problemField(refused) == "networks[0].subnetId", "\(refused.text)")
        }
    }

    @Test(arguments: TestEngine.all)
    func evacuationKeepsTheAddressesAndStaysInTheDataCenter(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let source = try await f.addMachine(ip: "10.61.0.1", bridge: "br-zedge")
            let (_, subnet) = try await Self.network(f, cidr: "10.40.2.0/28")
            let accepted = try await f.create("db", extra: ["networks": [["subnetId": subnet.id.uuidString, "ipAddress": "10.40.2.9"]]])
            #expect(accepted.status == 202, "\(accepted.text)")
            let instance = try accepted.decode(InstanceService.Accepted.self).instance.instance
            let first = try #require(try await f.lease(source.credential).first)
            try await f.finish(first, credential: source.credential, state: .running)
            let before = try first.payload.decode(as: VmCreatePayload.self).spec.nics

            _ = try await f.addMachine(ip: "10.61.0.2")  // no bridge: not a target
            let target = try await f.addMachine(ip: "10.61.0.3", bridge: "br-int")
            let evacuated = try await c.client.post("/api/v1/compute-machines/\(source.id)/actions/evacuate", token: f.admin, [:])
            #expect(evacuated.status == 202, "\(evacuated.text)")
            let moved = try #require(try await f.lease(target.credential).first { $0.kind == .vmCreate })
            let after = try moved.payload.decode(as: VmCreatePayload.self).spec.nics
            #expect(after.map(\.mac) == before.map(\.mac) && after.map(\.vlanTag) == before.map(\.vlanTag))
            #expect(after.first?.attachment == .bridge("br-int"), "the target's own bridge")
            let seed = try moved.payload.decode(as: VmCreatePayload.self).spec.cloudInit?.networkConfig ?? ""
            #expect(seed.contains("\"10.40.2.9/28\""))
            #expect(try await f.instance(instance.id).instance.computeMachineId == target.id)
        }
    }
}
