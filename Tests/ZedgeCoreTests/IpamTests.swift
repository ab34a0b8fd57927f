import Foundation
import Testing
import ZedgeCore

/// IPAM without I/O: usable addresses per RFC, lowest-free allocation, ranges, requested addresses, and the
/// FROZEN cool-down and leases with an injected clock.
@Suite struct IpamTests {
    func subnet(_ cidr: String, gateway: String? = nil) -> SubnetAddressing {
        SubnetAddressing(cidrBlock: cidr, gateway: gateway)!
    }
    func hold(_ a: String, _ n: UInt128 = 1) -> AddressHold { AddressHold(start: IPAddress(a)!.numericValue, count: n) }
    func next(_ s: SubnetAddressing, _ holds: [AddressHold] = [], requested: String? = nil, count: Int = 1) -> String? {
        switch AddressAllocator.allocate(in: s, holds: holds, requested: requested.map { IPAddress($0)! }, count: count) {
        case .success(let a): a.description
        case .failure: nil
        }
    }

    @Test func ipv4SkipsNetworkBroadcastAndGateway() {
        let s = subnet("10.0.0.0/24", gateway: "10.0.0.1")
        #expect(next(s) == "10.0.0.2")
        #expect(s.usableCount == 253)
        #expect(next(subnet("10.0.0.0/24")) == "10.0.0.1")
        #expect(subnet("10.0.0.0/24").usableCount == 254)
        // Everything but the broadcast address held: exhausted, never 10.0.0.255.
        #expect(next(s, [hold("10.0.0.2", 253)]) == nil)
        #expect(next(s, [hold("10.0.0.2", 252)]) == "10.0.0.254")
    }

    @Test func lowestFreeFillsGapsInAnyOrder() {
        let s = subnet("192.168.5.0/29")  // usable .1-.6
        #expect(next(s, [hold("192.168.5.3"), hold("192.168.5.1"), hold("192.168.5.2")]) == "192.168.5.4")
        #expect(next(s, [hold("192.168.5.1"), hold("192.168.5.3")]) == "192.168.5.2")
        // Overlapping holds (a range and an address inside it) count once.
        #expect(next(s, [hold("192.168.5.1", 4), hold("192.168.5.2")]) == "192.168.5.5")
        #expect(AddressAllocator.heldCount(in: s, holds: [hold("192.168.5.1", 4), hold("192.168.5.2")]) == 4)
    }

    @Test func slash31HasNoNetworkOrBroadcastReservation() {  // RFC 3021
        let s = subnet("10.9.9.0/31")
        #expect(s.usableCount == 2)
        #expect(next(s) == "10.9.9.0")
        #expect(next(s, [hold("10.9.9.0")]) == "10.9.9.1")
        #expect(next(s, [hold("10.9.9.0"), hold("10.9.9.1")]) == nil)
        #expect(s.unusable(IPAddress("10.9.9.1")!) == nil)
    }

    @Test func slash32IsItsOneAddress() {
        let s = subnet("10.9.9.7/32")
        #expect(s.usableCount == 1)
        #expect(next(s) == "10.9.9.7")
        #expect(next(s, [hold("10.9.9.7")]) == nil)
    }

    @Test func ipv6SkipsSubnetRouterAnycastOnly() {
        let s = subnet("2001:db8::/64", gateway: "2001:db8::1")
        #expect(next(s) == "2001:db8::2")
        #expect(s.usableCount == (UInt128(1) << 64) - 2)
        // The last address is usable in IPv6 (no broadcast).
        #expect(next(s, requested: "2001:db8::ffff:ffff:ffff:ffff") == "2001:db8::ffff:ffff:ffff:ffff")
        #expect(s.unusable(IPAddress("2001:db8::")!)?.contains("anycast") == true)
        let p2p = subnet("2001:db8::/127")  // RFC 6164
        #expect(next(p2p) == "2001:db8::" && p2p.usableCount == 2)
        #expect(next(subnet("2001:db8::5/128")) == "2001:db8::5")
    }

    @Test func ipv6SlashSixtyFourCostsOnlyItsHolds() {
        // A million-address hole at the start: the allocator looks at 2 holds, not 2^64 rows.
        let s = subnet("2001:db8:1::/64")
        // ::1 to ::f:4240 (1,000,000 addresses), then ::f:4241.
        let holds = [hold("2001:db8:1::1", 1_000_000), hold("2001:db8:1::f:4241")]
        #expect(next(s, holds) == "2001:db8:1::f:4242")
        #expect(AddressAllocator.heldCount(in: s, holds: holds) == 1_000_001)
    }

    @Test func requestedAddress() {
        let s = subnet("10.0.0.0/24", gateway: "10.0.0.1")
        #expect(next(s, requested: "10.0.0.77") == "10.0.0.77")
        for (address, why) in [("10.0.1.5", "inside"), ("10.0.0.0", "network"), ("10.0.0.255", "broadcast"), ("10.0.0.1", "gateway")] {
            guard case .failure(.unusable(let message)) = AddressAllocator.allocate(in: s, holds: [], requested: IPAddress(address)!) else {
                Issue.record("\(address) was not refused"); continue
            }
            #expect(message.contains(why), "\(address): \(message)")
        }
        #expect(AddressAllocator.allocate(in: s, holds: [hold("10.0.0.70", 10)], requested: IPAddress("10.0.0.75")!)
                == .failure(.taken(IPAddress("10.0.0.75")!)))
        #expect(AddressAllocator.allocate(in: subnet("10.0.0.0/24"), holds: [], requested: IPAddress("2001:db8::1")!)
                == .failure(.unusable("must lie inside the subnet 10.0.0.0/24")))
    }

    @Test func ranges() {
        let s = subnet("10.0.0.0/24", gateway: "10.0.0.1")
        // The lowest run of 8 free addresses: .2-.9 are free, but .5 is held, so .6-.13.
        #expect(next(s, [hold("10.0.0.5")], count: 8) == "10.0.0.6")
        // A requested range must be wholly free and inside the usable bounds.
        #expect(next(s, [hold("10.0.0.20")], requested: "10.0.0.16", count: 4) == "10.0.0.16")
        #expect(next(s, [hold("10.0.0.20")], requested: "10.0.0.17", count: 4) == nil)
        #expect(next(s, requested: "10.0.0.250", count: 6) == nil)  // would run into the broadcast address
        #expect(next(s, requested: "10.0.0.250", count: 5) == "10.0.0.250")
        // Free addresses remain, but no run long enough.
        #expect(next(subnet("10.0.0.0/29"), [hold("10.0.0.3")], count: 3) == "10.0.0.4")
        #expect(next(subnet("10.0.0.0/29"), [hold("10.0.0.3"), hold("10.0.0.6")], count: 3) == nil)
    }

    @Test func gatewayProblems() throws {
        let block = try CIDRBlock.parse("10.1.0.0/16")
        #expect(SubnetAddressing.gatewayProblem(IPAddress("10.1.0.1")!, in: block) == nil)
        #expect(SubnetAddressing.gatewayProblem(IPAddress("10.2.0.1")!, in: block) != nil)
        #expect(SubnetAddressing.gatewayProblem(IPAddress("10.1.0.0")!, in: block) != nil)
        #expect(SubnetAddressing.gatewayProblem(IPAddress("10.1.255.255")!, in: block) != nil)
    }

    @Test func vlanComesFromSubnetThenVpcThenTenant() {
        #expect(VlanResolution.vlan(subnet: 7, vpc: 8, tenant: 9) == 7)
        #expect(VlanResolution.vlan(subnet: nil, vpc: 8, tenant: 9) == 8)
        #expect(VlanResolution.vlan(subnet: nil, vpc: nil, tenant: 9) == 9)
        #expect(VlanResolution.vlan(subnet: nil, vpc: nil, tenant: nil) == nil)
    }
}

@Suite struct IpAddressLifecycleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let coolDown: TimeInterval = 300

    @Test func releaseFreezesForTheCoolDownThenFrees() {
        let allocated = IpAddressLifecycle(status: .allocated, leaseExpiresAt: nil)
        #expect(allocated.holds(at: t0.addingTimeInterval(1e9), coolDown: coolDown))
        let frozen = allocated.released(at: t0, coolDown: coolDown)
        #expect(frozen == IpAddressLifecycle(status: .frozen, leaseExpiresAt: t0.addingTimeInterval(300)))
        #expect(frozen.holds(at: t0.addingTimeInterval(299.9), coolDown: coolDown))
        #expect(!frozen.holds(at: t0.addingTimeInterval(300), coolDown: coolDown))
        #expect(frozen.at(t0.addingTimeInterval(301), coolDown: coolDown) == IpAddressLifecycle(status: .available, leaseExpiresAt: nil))
        // Releasing twice changes nothing: the freeze does not restart.
        #expect(frozen.released(at: t0.addingTimeInterval(100), coolDown: coolDown) == frozen)
    }

    @Test func noCoolDownFreesAtOnce() {
        let state = IpAddressLifecycle(status: .reserved, leaseExpiresAt: nil).released(at: t0, coolDown: 0)
        #expect(state.status == .available)
    }

    @Test func lapsedLeaseFreezesFromTheMomentItLapsed() {
        let leased = IpAddressLifecycle(status: .allocated, leaseExpiresAt: t0)
        #expect(leased.at(t0.addingTimeInterval(-1), coolDown: coolDown).status == .allocated)
        let after = leased.at(t0.addingTimeInterval(10), coolDown: coolDown)
        #expect(after == IpAddressLifecycle(status: .frozen, leaseExpiresAt: t0.addingTimeInterval(300)))
        #expect(leased.at(t0.addingTimeInterval(300), coolDown: coolDown).status == .available)
        #expect(IpAddressLifecycle(status: .reserved, leaseExpiresAt: t0).holds(at: t0.addingTimeInterval(299), coolDown: coolDown))
    }

    @Test func availableIsNeverHeld() {
        #expect(!IpAddressLifecycle(status: .available, leaseExpiresAt: nil).holds(at: t0, coolDown: coolDown))
        #expect(IpAddressLifecycle(status: .available, leaseExpiresAt: nil).released(at: t0, coolDown: coolDown).status == .available)
    }

    @Test func staticNetworkConfigRoutesThroughTheFirstGateway() {
        let a = InstanceNetwork(subnetId: UUID(), ipAddressId: UUID(), ipAddress: "10.0.0.5", prefixLength: 24, gateway: "10.0.0.1",
                                dnsServers: ["10.0.0.2", "9.9.9.9"], vlanId: 100, macAddress: "52:54:00:AB:CD:EF")
        let b = InstanceNetwork(subnetId: UUID(), ipAddressId: UUID(), ipAddress: "2001:db8::5", prefixLength: 64, gateway: "2001:db8::1",
                                dnsServers: [], vlanId: 100, macAddress: "52:54:00:00:00:01")
        let text = CloudInitSeed.staticNetworkConfig([a, b])
        #expect(text == """
            version: 2
            ethernets:
              nic0:
                match:
                  macaddress: "52:54:00:ab:cd:ef"
                addresses:
                  - "10.0.0.5/24"
                routes:
                  - to: "default"
                    via: "10.0.0.1"
                nameservers:
                  addresses: ["10.0.0.2", "9.9.9.9"]
              nic1:
                match:
                  macaddress: "52:54:00:00:00:01"
                addresses:
                  - "2001:db8::5/64"

            """)
    }

    @Test func randomMacsAreUnicastUnderTheQemuPrefix() {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let mac = MACAddress(InstanceNetwork.randomMac(using: &g))!
            #expect(Array(mac.bytes.prefix(3)) == [0x52, 0x54, 0x00])
        }
    }
}
