import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// A data center, and per tenant a TENANT_ADMIN and a USER: the world the network tests build VPCs in.
struct NetworkWorld {
    let c: TestCoordinator
    let admin: String
    let dataCenter: EdgeDataCenter

    static func make(_ c: TestCoordinator) async throws -> NetworkWorld {
        let admin = try await c.adminToken()
        let center = try await c.client.post("/api/v1/edge-data-centers", token: admin, ["name": "edge-\(UUID().uuidString.prefix(6).lowercased())"])
        guard center.status == 201 else { throw TestFailure("data center: \(center.text)") }
        return NetworkWorld(c: c, admin: admin, dataCenter: try center.decode(EdgeDataCenter.self))
    }

    /// A tenant with one USER; returns the tenant and the user's token.
    func tenant(_ name: String) async throws -> (tenant: Tenant, token: String) {
        let tenant = try await c.createTenant("\(name)-\(UUID().uuidString.prefix(4).lowercased())", token: admin)
        let user = try await c.createUser("u-\(name)-\(UUID().uuidString.prefix(6).lowercased())", role: .user, tenant: tenant.id, token: admin)
        return (tenant, user.token)
    }

    func vpc(_ token: String, name: String = "main", cidr: String = "10.0.0.0/16", inDataCenter: Bool = true, extra: [String: Any] = [:]) async throws -> Vpc {
        var body: [String: Any] = ["name": name, "cidrBlock": cidr, "dnsServers": ["10.0.0.2"]]
        if inDataCenter { body["edgeDataCenterId"] = dataCenter.id.uuidString }
        for (k, v) in extra { body[k] = v }
        let response = try await c.client.post("/api/v1/vpcs", token: token, body)
        guard response.status == 201 else { throw TestFailure("vpc: \(response.status) \(response.text)") }
        return try response.decode(Vpc.self)
    }

    func subnet(_ token: String, vpc: Vpc, cidr: String, gateway: String? = nil, name: String? = nil) async throws -> APIResponse {
        var body: [String: Any] = ["name": name ?? "s-\(UUID().uuidString.prefix(6).lowercased())", "vpcId": vpc.id.uuidString, "cidrBlock": cidr]
        if let gateway { body["gateway"] = gateway }
        return try await c.client.post("/api/v1/subnets", token: token, body)
    }

    func allocate(_ token: String, subnet: UUID, extra: [String: Any] = [:]) async throws -> APIResponse {
        var body: [String: Any] = ["subnetId": subnet.uuidString]
        for (k, v) in extra { body[k] = v }
        return try await c.client.post("/api/v1/ip-addresses", token: token, body)
    }

    func pool(of subnet: Subnet) async throws -> IpPoolConfig {
        let id = try #require(subnet.ipPoolId)
        let pool = try await c.client.get("/api/v1/resource-pools/\(id)", token: admin).decode(ResourcePool.self)
        #expect(pool.poolType == .ipAddress && pool.subnetId == subnet.id && pool.edgeDataCenterId == dataCenter.id)
        return try #require(try pool.ipPoolConfig?.decode(as: IpPoolConfig.self))
    }
}

/// The field a problem names first.
func problemField(_ response: APIResponse) -> String? {
    ((try? response.json()["errors"]) as? [[String: Any]])?.first?["field"] as? String
}

@Suite("Networks: VPCs, subnets, places and IPAM")
struct NetworkTests {
    @Test(arguments: TestEngine.all)
    func vpcAndSubnetRulesNameTheirFields(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let w = try await NetworkWorld.make(c)
            let (tenant, user) = try await w.tenant("a")

            // A CIDR with host bits set is refused, naming the canonical form.
            let sloppy = try await c.client.post("/api/v1/vpcs", token: user, ["name": "x", "cidrBlock": "10.0.0.5/16"])
            #expect(sloppy.status == 422 && problemField(sloppy) == "cidrBlock" && sloppy.text.contains("10.0.0.0/16"), "\(sloppy.text)")
            let upper = try await c.client.post("/api/v1/vpcs", token: user, ["name": "x", "cidrBlock": "2001:DB8::/32"])
            #expect(upper.status == 422 && upper.text.contains("2001:db8::/32"), "\(upper.text)")
            // Only ADMIN sets a VLAN.
            let vlan = try await c.client.post("/api/v1/vpcs", token: user, ["name": "x", "cidrBlock": "10.0.0.0/16", "vlanId": 7])
            #expect(vlan.status == 403 && problemField(vlan) == "vlanId", "\(vlan.text)")
            // A VPC or a place goes in the caller's own tenant (403 naming tenantId); ADMIN names one that exists (422).
            let (elsewhere, _) = try await w.tenant("elsewhere")
            let foreignVpc = try await c.client.post("/api/v1/vpcs", token: user, ["name": "x", "cidrBlock": "10.0.0.0/16", "tenantId": elsewhere.id.uuidString])
            #expect(foreignVpc.status == 403 && problemField(foreignVpc) == "tenantId" && foreignVpc.text.contains("VPCs are created in your own tenant"),
                    "\(foreignVpc.text)")
            let tenantAdmin = try await c.createUser("ta-\(UUID().uuidString.prefix(6).lowercased())", role: .tenantAdmin, tenant: tenant.id,
                                                     token: w.admin).token
            let foreignPlace = try await c.client.post("/api/v1/places", token: tenantAdmin, ["name": "x", "tenantId": elsewhere.id.uuidString])
            #expect(foreignPlace.status == 403 && problemField(foreignPlace) == "tenantId"
                    && foreignPlace.text.contains("Places are created in your own tenant"), "\(foreignPlace.text)")
            for path in ["/api/v1/vpcs", "/api/v1/places"] {
                let unknown = try await c.client.post(path, token: w.admin, ["name": "x", "cidrBlock": "10.0.0.0/16", "tenantId": UUID().uuidString]
                    .filter { path.hasSuffix("vpcs") || $0.key != "cidrBlock" })
                #expect(unknown.status == 422 && problemField(unknown) == "tenantId" && unknown.text.contains("no such tenant"), "\(path): \(unknown.text)")
            }

            // Special-use blocks and oversized networks are refused, naming the field.
            // Well-formed blocks the network rules refuse are a 422; an IPv6 block written with an embedded IPv4 part is
            // not a form the document admits (its pattern), so a 400.
            for (cidr, why, status) in [("127.0.0.0/16", "loopback", 422), ("224.1.0.0/16", "multicast", 422), ("::ffff:10.0.0.0/104", "IPv4", 400),
                                        ("fe80::/16", "link-local", 422), ("0.0.0.0/0", "this network", 422), ("10.0.0.0/7", "/8", 422)] {
                let refused = try await c.client.post("/api/v1/vpcs", token: user, ["name": "x", "cidrBlock": cidr])
                #expect(refused.status == status && problemField(refused) == "cidrBlock" && refused.text.contains(why), "\(cidr): \(refused.text)")
            }

            // A subnet needs its VPC in a data center.
            let floating = try await w.vpc(user, name: "floating", cidr: "10.9.0.0/16", inDataCenter: false)
            let noDc = try await w.subnet(user, vpc: floating, cidr: "10.9.1.0/24")
            #expect(noDc.status == 422 && problemField(noDc) == "vpcId" && noDc.text.contains("edgeDataCenterId"), "\(noDc.text)")

            let vpc = try await w.vpc(user)
            let outside = try await w.subnet(user, vpc: vpc, cidr: "10.1.0.0/24")
            #expect(outside.status == 422 && problemField(outside) == "cidrBlock" && outside.text.contains("inside"), "\(outside.text)")
            let hostBits = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.7/24")
            #expect(hostBits.status == 422 && hostBits.text.contains("10.0.1.0/24"), "\(hostBits.text)")
            let gatewayOutside = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.0/24", gateway: "10.0.2.1")
            #expect(gatewayOutside.status == 422 && problemField(gatewayOutside) == "gateway", "\(gatewayOutside.text)")
            let gatewayIsNetwork = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.0/24", gateway: "10.0.1.0")
            #expect(gatewayIsNetwork.status == 422 && gatewayIsNetwork.text.contains("network address"), "\(gatewayIsNetwork.text)")
            let gatewayIsBroadcast = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.0/24", gateway: "10.0.1.255")
            #expect(gatewayIsBroadcast.status == 422 && gatewayIsBroadcast.text.contains("broadcast"), "\(gatewayIsBroadcast.text)")

            let huge = try await w.subnet(user, vpc: vpc, cidr: "10.0.0.0/15")
            #expect(huge.status == 422 && problemField(huge) == "cidrBlock", "\(huge.text)")
            let first = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.0/24", gateway: "10.0.1.1", name: "web")
            #expect(first.status == 201, "\(first.text)")
            let subnet = try first.decode(Subnet.self)
            #expect(subnet.ipPoolId != nil)
            // The tenant got a VLAN from the configured range with its first subnet.
            let withVlan = try await c.client.get("/api/v1/tenants/\(tenant.id)", token: w.admin).decode(Tenant.self)
            #expect(withVlan.vlanId.map { (100...3999).contains($0) } == true, "\(String(describing: withVlan.vlanId))")
            let pool = try await w.pool(of: subnet)
            #expect(pool.totalAddresses == "253" && pool.freeAddresses == "253" && pool.cidrBlock == "10.0.1.0/24")

            // Overlaps: one of this VPC is named.
            let overlap = try await w.subnet(user, vpc: vpc, cidr: "10.0.0.0/23")
            #expect(overlap.status == 409 && problemField(overlap) == "cidrBlock" && overlap.text.contains("'web'"), "\(overlap.text)")
            let duplicate = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.0/24")
            #expect(duplicate.status == 409, "\(duplicate.text)")

            // Another tenant's overlapping subnet: 409, naming neither that tenant nor its subnet.
            let (_, other) = try await w.tenant("b")
            let otherVpc = try await w.vpc(other, cidr: "10.0.0.0/16")
            let clash = try await w.subnet(other, vpc: otherVpc, cidr: "10.0.1.128/25")
            #expect(clash.status == 409 && clash.text.contains("another tenant") && !clash.text.contains("web")
                    && !clash.text.contains(subnet.id.uuidString), "\(clash.text)")
            #expect(try await w.subnet(other, vpc: otherVpc, cidr: "10.0.2.0/24").status == 201)
            // Two tenants never share a VLAN.
            let tenants = try await [c.client.get("/api/v1/tenants/\(tenant.id)", token: w.admin).decode(Tenant.self)]
            let otherTenant = try await c.client.get("/api/v1/vpcs/\(otherVpc.id)", token: other).decode(Vpc.self).tenantId
            let otherVlan = try await c.client.get("/api/v1/tenants/\(otherTenant)", token: w.admin).decode(Tenant.self).vlanId
            #expect(otherVlan != nil && otherVlan != tenants[0].vlanId)
            // An ADMIN cannot hand tenant A's VLAN to a VPC of tenant B.
            let stolen = try await c.client.patch("/api/v1/vpcs/\(otherVpc.id)", token: w.admin, ["vlanId": tenants[0].vlanId!])
            #expect(stolen.status == 409 && problemField(stolen) == "vlanId", "\(stolen.text)")
            let shared = try await c.client.patch("/api/v1/tenants/\(otherTenant)", token: w.admin, ["vlanId": tenants[0].vlanId!])
            #expect(shared.status == 409 && problemField(shared) == "vlanId", "\(shared.text)")
            // A tenant's VLAN stays while its subnets use it.
            let moved = try await c.client.patch("/api/v1/tenants/\(tenant.id)", token: w.admin, ["vlanId": 4000])
            #expect(moved.status == 409 && problemField(moved) == "vlanId", "\(moved.text)")

            // Another tenant's VPC, subnet and IP pool are 404s; the pool is missing from its lists too, and nobody
            // changes a subnet's pool by hand.
            let poolId = try #require(subnet.ipPoolId)
            #expect(try await c.client.get("/api/v1/resource-pools/\(poolId)", token: other).status == 404)
            #expect(try await c.client.get("/api/v1/resource-pools/\(poolId)", token: user).status == 200)
            let otherPools = try await c.client.get("/api/v1/resource-pools?poolType=IP_ADDRESS", token: other).decode(Page<ResourcePool>.self)
            #expect(!otherPools.items.contains { $0.id == poolId } && otherPools.items.count == 1)
            let edited = try await c.client.patch("/api/v1/resource-pools/\(poolId)", token: w.admin, ["ipPoolConfig": ["freeAddresses": "999"]])
            #expect(edited.status == 409, "\(edited.text)")
            #expect(try await c.client.delete("/api/v1/resource-pools/\(poolId)", token: w.admin).status == 409)
            #expect(try await c.client.get("/api/v1/vpcs/\(vpc.id)", token: other).status == 404)
            #expect(try await c.client.get("/api/v1/subnets/\(subnet.id)", token: other).status == 404)
            let foreign = try await w.allocate(other, subnet: subnet.id)
            #expect(foreign.status == 422 && problemField(foreign) == "subnetId", "\(foreign.text)")

            // IPv6 too.
            let v6 = try await w.vpc(user, name: "v6", cidr: "2001:db8:100::/48")
            let v6subnet = try await w.subnet(user, vpc: v6, cidr: "2001:db8:100:1::/64", gateway: "2001:db8:100:1::1")
            #expect(v6subnet.status == 201, "\(v6subnet.text)")
            let v6pool = try await w.pool(of: try v6subnet.decode(Subnet.self))
            #expect(v6pool.totalAddresses == String((UInt128(1) << 64) - 2))
            let mixed = try await w.subnet(user, vpc: v6, cidr: "10.0.7.0/24")
            #expect(mixed.status == 422 && problemField(mixed) == "cidrBlock", "\(mixed.text)")

            // A VPC with subnets is not deleted; once empty it is (status DELETED), and its name is free again.
            #expect(try await c.client.delete("/api/v1/vpcs/\(vpc.id)", token: user).status == 409)
            let sameName = try await c.client.post("/api/v1/vpcs", token: user, ["name": "main", "cidrBlock": "10.5.0.0/16"])
            #expect(sameName.status == 409 && problemField(sameName) == "name", "\(sameName.text)")
            #expect(try await c.client.delete("/api/v1/subnets/\(subnet.id)", token: user).status == 204)
            #expect(try await c.client.delete("/api/v1/vpcs/\(vpc.id)", token: user).status == 204)
            // Hidden once DELETED (404), listed only when asked for by status.
            #expect(try await c.client.get("/api/v1/vpcs/\(vpc.id)", token: user).status == 404)
            #expect(try await c.client.patch("/api/v1/vpcs/\(vpc.id)", token: user, ["description": "back"]).status == 404)
            #expect(!(try await c.client.get("/api/v1/vpcs", token: user).decode(Page<Vpc>.self).items.contains { $0.id == vpc.id }))
            let deleted = try await c.client.get("/api/v1/vpcs?status=DELETED", token: user).decode(Page<Vpc>.self).items
            #expect(deleted.map(\.id) == [vpc.id])
            #expect(try await c.client.post("/api/v1/vpcs", token: user, ["name": "main", "cidrBlock": "10.5.0.0/16"]).status == 201)
        }
    }

    @Test(arguments: TestEngine.all)
    func ipamByHandAndTheCoolDown(engine: TestEngine) async throws {
        // A cool-down of 20 s: with 2 s, a loaded CI machine took longer than that between the release and the
        // checks that the address is still FROZEN.
        try await TestCoordinator.with(engine, configure: { $0.ipCoolDownSeconds = 20 }) { c in
            let w = try await NetworkWorld.make(c)
            let (_, user) = try await w.tenant("a")
            let vpc = try await w.vpc(user)
            let subnet = try await w.subnet(user, vpc: vpc, cidr: "10.0.3.0/24", gateway: "10.0.3.1").decode(Subnet.self)

            let a = try await w.allocate(user, subnet: subnet.id).decode(IpAddress.self)
            #expect(a.ipAddress == "10.0.3.2" && a.status == .allocated)  // the lowest free: not .0, not the gateway .1
            let asked = try await w.allocate(user, subnet: subnet.id, extra: ["ipAddress": "10.0.3.50", "status": "RESERVED"])
            #expect(asked.status == 201, "\(asked.text)")
            #expect(try asked.decode(IpAddress.self).status == .reserved)
            let taken = try await w.allocate(user, subnet: subnet.id, extra: ["ipAddress": "10.0.3.50"])
            #expect(taken.status == 409 && problemField(taken) == "ipAddress" && taken.text.contains("RESERVED"), "\(taken.text)")
            let tooLong = try await w.allocate(user, subnet: subnet.id, extra: ["rangeSize": 1000])
            #expect(tooLong.status == 422 && problemField(tooLong) == "rangeSize", "\(tooLong.text)")
            for (address, why) in [("10.0.3.0", "network"), ("10.0.3.255", "broadcast"), ("10.0.3.1", "gateway"), ("10.0.4.1", "inside")] {
                let refused = try await w.allocate(user, subnet: subnet.id, extra: ["ipAddress": address])
                #expect(refused.status == 422 && problemField(refused) == "ipAddress" && refused.text.contains(why), "\(address): \(refused.text)")
            }
            // A range of 8 from the lowest free run: .3-.10.
            let range = try await w.allocate(user, subnet: subnet.id, extra: ["rangeSize": 8, "status": "RESERVED"]).decode(IpAddress.self)
            #expect(range.ipAddress == "10.0.3.3" && range.isRangeStart && range.rangeSize == 8)
            #expect(try await w.allocate(user, subnet: subnet.id).decode(IpAddress.self).ipAddress == "10.0.3.11")
            var pool = try await w.pool(of: subnet)
            #expect(pool.allocated == 2 && pool.reserved == 9 && pool.freeAddresses == "242", "\(pool)")

            // Release: FROZEN for the cool-down, skipped by allocation, then AVAILABLE and handed out again.
            let released = try await c.client.delete("/api/v1/ip-addresses/\(a.id)", token: user)
            #expect(released.status == 200, "\(released.text)")
            let frozen = try released.decode(IpAddress.self)
            #expect(frozen.status == .frozen && frozen.leaseExpiresAt != nil)
            let again = try await c.client.delete("/api/v1/ip-addresses/\(a.id)", token: user).decode(IpAddress.self)
            #expect(again.status == .frozen && again.leaseExpiresAt == frozen.leaseExpiresAt)  // released once
            #expect(try await w.allocate(user, subnet: subnet.id).decode(IpAddress.self).ipAddress == "10.0.3.12")
            let frozenAsk = try await w.allocate(user, subnet: subnet.id, extra: ["ipAddress": "10.0.3.2"])
            #expect(frozenAsk.status == 409 && frozenAsk.text.contains("FROZEN until"), "\(frozenAsk.text)")
            pool = try await w.pool(of: subnet)
            #expect(pool.frozen == 1)
            // Deleting a subnet with held addresses is refused; FROZEN ones alone would not block it.
            #expect(try await c.client.delete("/api/v1/subnets/\(subnet.id)", token: user).status == 409)
            try await eventually("the frozen address turns AVAILABLE", within: 120) {
                try await c.client.get("/api/v1/ip-addresses/\(a.id)", token: user).decode(IpAddress.self).status == .available
            }
            let reused = try await w.allocate(user, subnet: subnet.id).decode(IpAddress.self)
            #expect(reused.ipAddress == "10.0.3.2" && reused.id == a.id)  // the same row, kept for history
            pool = try await w.pool(of: subnet)
            #expect(pool.frozen == 0)

            // A DISABLED VPC hands out no addresses and takes no subnets.
            #expect(try await c.client.patch("/api/v1/vpcs/\(vpc.id)", token: user, ["status": "DISABLED"]).status == 200)
            let disabled = try await w.allocate(user, subnet: subnet.id)
            #expect(disabled.status == 409 && disabled.text.contains("DISABLED"), "\(disabled.text)")
            #expect(try await w.subnet(user, vpc: vpc, cidr: "10.0.4.0/24").status == 409)
            #expect(try await c.client.patch("/api/v1/vpcs/\(vpc.id)", token: user, ["status": "ACTIVE"]).status == 200)

            // A lease returns the address through the cool-down when it passes. The lease runs 5 s: one of 1 s had
            // already passed when a loaded machine's request reached the check, a 422 "must be in the future".
            let leased = try await w.allocate(user, subnet: subnet.id, extra: ["leaseExpiresAt": ZedgeJSON.formatDate(Date().addingTimeInterval(5))])
            #expect(leased.status == 201, "\(leased.text)")
            let leasedId = try leased.decode(IpAddress.self).id
            try await eventually("the lapsed lease freezes, then frees", within: 120) {
                try await c.client.get("/api/v1/ip-addresses/\(leasedId)", token: user).decode(IpAddress.self).status == .available
            }
        }
    }

    /// 100 concurrent allocations on a /26: 62 usable without a gateway, 61 with one; the rest 409; no address twice.
    @Test(arguments: TestEngine.all)
    func hundredConcurrentAllocationsOnASlashTwentySix(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let w = try await NetworkWorld.make(c)
            let (_, user) = try await w.tenant("a")
            let vpc = try await w.vpc(user)
            for (cidr, gateway, expected) in [("10.0.8.0/26", nil, 62), ("10.0.9.0/26", "10.0.9.1", 61)] as [(String, String?, Int)] {
                let subnet = try await w.subnet(user, vpc: vpc, cidr: cidr, gateway: gateway).decode(Subnet.self)
                try await Self.race(w, clients: [(c, user)], subnet: subnet, expected: expected, gateway: gateway)
            }
        }
    }

    /// The same race split across two coordinator replicas on one PostgreSQL database.
    @Test func hundredConcurrentAllocationsAcrossTwoReplicas() async throws {
        try await TestCoordinator.with(.postgres) { a in
            var second = a.configuration
            second.port = 0
            try await TestCoordinator.run(second) { b in
                let w = try await NetworkWorld.make(a)
                let (tenant, user) = try await w.tenant("a")
                _ = tenant
                let vpc = try await w.vpc(user)
                let subnet = try await w.subnet(user, vpc: vpc, cidr: "10.0.10.0/26", gateway: "10.0.10.1").decode(Subnet.self)
                try await Self.race(w, clients: [(a, user), (b, user)], subnet: subnet, expected: 61, gateway: "10.0.10.1")
            }
        }
    }

    static func race(_ w: NetworkWorld, clients: [(TestCoordinator, String)], subnet: Subnet, expected: Int, gateway: String?) async throws {
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<100 {
                let (c, token) = clients[i % clients.count]
                group.addTask {
                    let r = try await c.client.post("/api/v1/ip-addresses", token: token, ["subnetId": subnet.id.uuidString])
                    return (r.status, r.text)
                }
            }
            var all: [(Int, String)] = []
            for try await r in group { all.append(r) }
            return all
        }
        let created = results.filter { $0.0 == 201 }
        #expect(created.count == expected, "\(subnet.cidrBlock): \(results.filter { $0.0 != 201 && $0.0 != 409 }.prefix(3))")
        #expect(results.filter { $0.0 == 409 }.count == 100 - expected)
        let addresses = try created.map { try ZedgeJSON.decoder().decode(IpAddress.self, from: Data($0.1.utf8)).ipAddress }
        #expect(Set(addresses).count == addresses.count, "an address was given twice")
        let block = try CIDRBlock.parse(subnet.cidrBlock)
        #expect(addresses.allSatisfy { IPAddress($0).map(block.contains) == true && $0 != gateway && IPAddress($0) != block.networkAddress
                                       && IPAddress($0) != block.lastAddress })
        let pool = try await w.pool(of: subnet)
        #expect(pool.allocated == expected && pool.freeAddresses == "0", "\(pool)")
    }
}
