import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// A tenant's network at a place, and CloudBoxes registered in the VPC's data center.
struct PlaceWorld {
    let w: NetworkWorld
    let tenant: Tenant
    let user: String
    let vpc: Vpc
    let subnet: Subnet
    let place: Place

    var c: TestCoordinator { w.c }
    var admin: String { w.admin }

    /// VPC 10.0.0.0/16 with DNS 10.0.0.2, subnet 10.0.1.0/24 with gateway 10.0.1.1, a place bound to it.
    static func make(_ c: TestCoordinator) async throws -> PlaceWorld {
        let w = try await NetworkWorld.make(c)
        let (tenant, user) = try await w.tenant("shop")
        let vpc = try await w.vpc(user)
        let created = try await w.subnet(user, vpc: vpc, cidr: "10.0.1.0/24", gateway: "10.0.1.1", name: "store")
        guard created.status == 201 else { throw TestFailure("subnet: \(created.status) \(created.text)") }
        let subnet = try created.decode(Subnet.self)
        let place = try await placeIn(c, token: w.admin, tenant: tenant, ["name": "front-desk", "location": "Main St 1", "subnetId": subnet.id.uuidString])
        return PlaceWorld(w: w, tenant: tenant, user: user, vpc: vpc, subnet: subnet, place: place)
    }

    /// A place of the tenant (USERs only read places; `token` is an ADMIN's).
    static func placeIn(_ c: TestCoordinator, token: String, tenant: Tenant, _ body: [String: Any]) async throws -> Place {
        var body = body
        body["tenantId"] = tenant.id.uuidString
        let response = try await c.client.post("/api/v1/places", token: token, body)
        guard response.status == 201 else { throw TestFailure("place: \(response.status) \(response.text)") }
        return try response.decode(Place.self)
    }

    /// A CloudBox pre-registered in the data center whose agent has registered (with `mac`); its id and credential.
    func box(mac: String) async throws -> (id: UUID, credential: String) {
        let serial = "CB-\(UUID().uuidString.prefix(8))"
        let pre = try await c.client.post("/api/v1/cloud-boxes", token: admin, ["serialNumber": serial, "edgeDataCenterId": w.dataCenter.id.uuidString])
        guard pre.status == 201 else { throw TestFailure("cloud box: \(pre.status) \(pre.text)") }
        let tokenResponse = try await c.client.post("/api/v1/enrollment-tokens", token: admin,
                                                    ["edgeDataCenterId": w.dataCenter.id.uuidString, "kind": "CLOUD_BOX"])
        guard let token = try tokenResponse.json()["token"] as? String else { throw TestFailure("token: \(tokenResponse.text)") }
        let facts = HostFacts(hostname: "box-\(serial.lowercased())", serialNumber: serial, cpuCores: 2, memoryGb: 2, storageGb: 16,
                              managementIp: "198.51.100.7", macAddress: mac)
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
            RegisterRequest(enrollmentToken: token, kind: .cloudBox, facts: facts))) as! [String: Any]
        let registered = try await c.client.post("/agent/v1/register", token: nil, body)
        guard registered.status == 201 || registered.status == 200 else { throw TestFailure("register: \(registered.status) \(registered.text)") }
        let response = try registered.decode(RegisterResponse.self)
        return (try #require(response.cloudBoxId), response.credential)
    }

    func configure(_ boxId: UUID, _ body: [String: Any]) async throws -> APIResponse {
        try await c.client.post("/api/v1/cloud-boxes/\(boxId)/actions/configure-network", token: admin, body)
    }

    /// The network settings the box's agent is handed next (its one queued task).
    func queuedNetwork(_ credential: String) async throws -> CloudBoxNetworkPayload {
        let tasks = try await c.client.get("/agent/v1/tasks?wait=0", token: credential).decode(TaskPollResponse.self).tasks
        guard tasks.count == 1, tasks[0].kind == .cloudboxConfigureNetwork else { throw TestFailure("expected one configure-network, got \(tasks)") }
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(
            TaskResultReport(outcome: .succeeded, error: nil, observed: nil))) as! [String: Any]
        let reported = try await c.client.post("/agent/v1/tasks/\(tasks[0].id)/result", token: credential, body)
        guard reported.status == 204 else { throw TestFailure("result: \(reported.status) \(reported.text)") }
        return try tasks[0].payload.decode(as: CloudBoxNetworkPayload.self)
    }

    /// The subnet's address rows by address.
    func rows(of subnet: Subnet) async throws -> [String: IpAddress] {
        let page = try await c.client.get("/api/v1/ip-addresses?subnetId=\(subnet.id)", token: user).decode(Page<IpAddress>.self)
        return Dictionary(uniqueKeysWithValues: page.items.map { ($0.ipAddress, $0) })
    }
}

@Suite("CloudBoxes at places")
struct CloudBoxPlaceTests {
    @Test(arguments: TestEngine.all)
    func aBoxAtAPlaceTakesItsAddressMaskGatewayAndDnsFromTheSubnet(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let p = try await PlaceWorld.make(c)
            let box = try await p.box(mac: "52:54:00:aa:00:01")

            // networkMode may be left out: the lowest free address (past the network address and the gateway).
            let configured = try await p.configure(box.id, ["placeId": p.place.id.uuidString])
            #expect(configured.status == 202, "\(configured.text)")
            let accepted = try configured.decode(CloudBoxService.Accepted.self)
            #expect(accepted.cloudBox.ipAddress == "10.0.1.2" && accepted.cloudBox.networkId == p.subnet.id)
            let payload = try await p.queuedNetwork(box.credential)
            #expect(payload == CloudBoxNetworkPayload(networkMode: "STATIC", ipAddress: "10.0.1.2", subnetMask: "255.255.255.0",
                                                      gateway: "10.0.1.1", dnsServers: ["10.0.0.2"]))
            let stored = try await c.client.get("/api/v1/cloud-boxes/\(box.id)", token: p.admin).decode(CloudBox.self)
            #expect(stored.ipAddress == "10.0.1.2" && stored.subnetMask == "255.255.255.0" && stored.gateway == "10.0.1.1")
            #expect(stored.dnsServers == .array([.string("10.0.0.2")]) && stored.networkMode == "STATIC" && stored.networkId == p.subnet.id)

            // The address is ALLOCATED in IPAM, with the box's MAC and its tag.
            let first = try #require(try await p.rows(of: p.subnet)["10.0.1.2"])
            #expect(first.status == .allocated && first.macAddress == "52:54:00:aa:00:01" && first.instanceId == nil)
            #expect(first.tags?.objectValue?["cloudBoxId"]?.stringValue.flatMap(UUID.init(uuidString:)) == box.id, "\(String(describing: first.tags))")
            #expect(try await p.w.pool(of: p.subnet).allocated == 1)

            // An address someone holds is a 409 naming ipAddress; the box keeps what it had.
            #expect(try await p.w.allocate(p.user, subnet: p.subnet.id, extra: ["ipAddress": "10.0.1.3"]).status == 201)
            let taken = try await p.configure(box.id, ["placeId": p.place.id.uuidString, "ipAddress": "10.0.1.3"])
            #expect(taken.status == 409 && taken.problemFields == ["ipAddress"], "\(taken.text)")
            let gateway = try await p.configure(box.id, ["placeId": p.place.id.uuidString, "ipAddress": "10.0.1.1"])
            #expect(gateway.status == 422 && gateway.problemFields == ["ipAddress"], "\(gateway.text)")
            #expect(try await p.rows(of: p.subnet)["10.0.1.2"]?.status == .allocated)

            // The same place again keeps the address.
            let again = try await p.configure(box.id, ["networkMode": "STATIC", "placeId": p.place.id.uuidString])
            #expect(again.status == 202, "\(again.text)")
            #expect(try await p.queuedNetwork(box.credential).ipAddress == "10.0.1.2")
            #expect(try await p.w.pool(of: p.subnet).allocated == 2)

            // A second box at the place gets the next free address.
            let second = try await p.box(mac: "52:54:00:aa:00:02")
            #expect(try await p.configure(second.id, ["placeId": p.place.id.uuidString]).status == 202)
            #expect(try await p.queuedNetwork(second.credential).ipAddress == "10.0.1.4")

            // Asking for another address at the place moves the box there and freezes the old one.
            let moved = try await p.configure(second.id, ["placeId": p.place.id.uuidString, "ipAddress": "10.0.1.20"])
            #expect(moved.status == 202, "\(moved.text)")
            #expect(try await p.queuedNetwork(second.credential).ipAddress == "10.0.1.20")
            var rows = try await p.rows(of: p.subnet)
            #expect(rows["10.0.1.4"]?.status == .frozen && rows["10.0.1.20"]?.status == .allocated)

            // Re-configured to DHCP, the box's address is released into the cool-down, exactly once.
            let dhcp = try await p.configure(box.id, ["networkMode": "DHCP"])
            #expect(dhcp.status == 202, "\(dhcp.text)")
            _ = try await p.queuedNetwork(box.credential)
            rows = try await p.rows(of: p.subnet)
            let frozen = try #require(rows["10.0.1.2"])
            #expect(frozen.status == .frozen, "\(frozen)")
            let afterDhcp = try await c.client.get("/api/v1/cloud-boxes/\(box.id)", token: p.admin).decode(CloudBox.self)
            #expect(afterDhcp.networkId == nil && afterDhcp.ipAddress == nil && afterDhcp.networkMode == "DHCP" && afterDhcp.gateway == nil)
            #expect(try await p.configure(box.id, ["networkMode": "DHCP"]).status == 202)
            _ = try await p.queuedNetwork(box.credential)
            #expect(try await p.rows(of: p.subnet)["10.0.1.2"] == frozen, "a second release changes nothing")
            let pool = try await p.w.pool(of: p.subnet)
            #expect(pool.allocated == 2 && pool.frozen == 2, "\(pool)")

            // Back at the place, the FROZEN addresses are skipped.
            #expect(try await p.configure(box.id, ["placeId": p.place.id.uuidString]).status == 202)
            #expect(try await p.queuedNetwork(box.credential).ipAddress == "10.0.1.5")
        }
    }

    @Test(arguments: TestEngine.all)
    func aPlaceThatCannotAddressABoxIsA400NamingPlaceId(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let p = try await PlaceWorld.make(c)
            let box = try await p.box(mac: "52:54:00:bb:00:01")
            let place = p.place.id.uuidString

            // What comes from the subnet may not be given, and a place gives only STATIC.
            let dhcp = try await p.configure(box.id, ["networkMode": "DHCP", "placeId": place])
            #expect(dhcp.status == 422 && dhcp.problemFields == ["networkMode"], "\(dhcp.text)")
            let given = try await p.configure(box.id, ["placeId": place, "subnetMask": "255.255.255.0", "gateway": "10.0.1.1", "dnsServers": ["1.1.1.1"]])
            #expect(given.status == 422 && given.problemFields == ["subnetMask", "gateway", "dnsServers"], "\(given.text)")
            let noMode = try await p.configure(box.id, ["ipAddress": "10.0.1.9"])
            #expect(noMode.status == 422 && noMode.problemFields == ["networkMode"], "\(noMode.text)")

            func refused(_ placeId: UUID, saying words: String) async throws {
                let response = try await p.configure(box.id, ["placeId": placeId.uuidString])
                #expect(response.status == 422 && response.problemFields == ["placeId"] && response.text.contains(words), "\(response.text)")
            }
            try await refused(UUID(), saying: "no such place")
            let bare = try await PlaceWorld.placeIn(c, token: p.admin, tenant: p.tenant, ["name": "kiosk"])
            try await refused(bare.id, saying: "no subnet")
            let closed = try await PlaceWorld.placeIn(c, token: p.admin, tenant: p.tenant, ["name": "closed", "status": "INACTIVE"])
            try await refused(closed.id, saying: "INACTIVE")

            let noGatewaySubnet = try await p.w.subnet(p.user, vpc: p.vpc, cidr: "10.0.2.0/24").decode(Subnet.self)
            let noGateway = try await PlaceWorld.placeIn(c, token: p.admin, tenant: p.tenant, ["name": "back", "subnetId": noGatewaySubnet.id.uuidString])
            try await refused(noGateway.id, saying: "no gateway")

            let v6 = try await p.w.vpc(p.user, name: "six", cidr: "fd00:1::/48", extra: ["dnsServers": ["fd00:1::53"]])
            let v6Subnet = try await p.w.subnet(p.user, vpc: v6, cidr: "fd00:1:0:1::/64", gateway: "fd00:1:0:1::1")
            #expect(v6Subnet.status == 201, "\(v6Subnet.text)")
            let v6Place = try await PlaceWorld.placeIn(c, token: p.admin, tenant: p.tenant,
                                                       ["name": "lab", "subnetId": try v6Subnet.decode(Subnet.self).id.uuidString])
            try await refused(v6Place.id, saying: "not IPv4")

            // Nothing was allocated or recorded by the refusals.
            #expect(try await p.rows(of: p.subnet).isEmpty)
            let untouched = try await c.client.get("/api/v1/cloud-boxes/\(box.id)", token: p.admin).decode(CloudBox.self)
            #expect(untouched.networkId == nil && untouched.networkMode == nil)
        }
    }
}
