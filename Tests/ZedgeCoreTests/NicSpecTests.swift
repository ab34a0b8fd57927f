import Foundation
import Testing
import ZedgeCore

/// `NicSpec.virtualPort`: decoding, and the rules libvirt enforces (a `<vlan>` on a bridge only on an Open
/// vSwitch port; a virtualport only on a bridge).
@Suite("NicSpec: Open vSwitch ports and VLAN tags")
struct NicSpecTests {
    let mac = "52:54:00:0a:00:01"

    func fields(_ nic: NicSpec) -> [String] { nic.validate(field: "nics[0]").map(\.field) }

    @Test func anOpenVSwitchPortMayCarryATag() {
        #expect(fields(NicSpec(mac: mac, attachment: .bridge("br-zedge"), vlanTag: 100, virtualPort: .openvswitch)) == [])
        #expect(fields(NicSpec(mac: mac, attachment: .bridge("br-zedge"), virtualPort: .openvswitch)) == [])
        #expect(fields(NicSpec(mac: mac, attachment: .bridge("br0"))) == [])
    }

    @Test func aTagOnABridgeNeedsAnOpenVSwitchPort() {
        let problems = NicSpec(mac: mac, attachment: .bridge("br0"), vlanTag: 100).validate(field: "nics[0]")
        #expect(problems.map(\.field) == ["nics[0].vlanTag"])
        #expect(problems.first?.message.contains("virtualPort openvswitch") == true, "\(problems)")
        // A bad tag is reported once, as a bad tag.
        #expect(fields(NicSpec(mac: mac, attachment: .bridge("br-zedge"), vlanTag: 4095, virtualPort: .openvswitch)) == ["nics[0].vlanTag"])
    }

    @Test func aVirtualPortOnlyOnABridge() {
        let problems = NicSpec(mac: mac, attachment: .network("default"), virtualPort: .openvswitch).validate(field: "nics[0]")
        #expect(problems.map(\.field) == ["nics[0].virtualPort"])
        #expect(problems.first?.message == "openvswitch is only for a bridge attachment")
        // A tag on a libvirt network is the network's business (an OVS-backed network takes it).
        #expect(fields(NicSpec(mac: mac, attachment: .network("default"), vlanTag: 42)) == [])
    }

    @Test func theSpecReportsItsNicsProblems() {
        let spec = VmSpec(name: "v", uuid: UUID(), vcpus: 1, memoryMiB: 128,
                          rootDisk: DiskSpec(source: .file(path: "/v.qcow2"), target: "vda"),
                          nics: [NicSpec(mac: mac, attachment: .bridge("br-zedge"), vlanTag: 100, virtualPort: .openvswitch),
                                 NicSpec(mac: "52:54:00:0a:00:02", attachment: .bridge("br-zedge"), vlanTag: 200)])
        #expect(spec.validate().map(\.field) == ["nics[1].vlanTag"])
    }

    @Test func decodesWithoutVirtualPortAndRoundTrips() throws {
        let old = #"{"mac":"52:54:00:0a:00:01","attachment":{"type":"bridge","name":"br0"}}"#
        #expect(try JSONDecoder().decode(NicSpec.self, from: Data(old.utf8)).virtualPort == nil)
        let ovs = #"{"mac":"52:54:00:0a:00:01","attachment":{"type":"bridge","name":"br-zedge"},"vlanTag":100,"virtualPort":"openvswitch"}"#
        let nic = try JSONDecoder().decode(NicSpec.self, from: Data(ovs.utf8))
        #expect(nic == NicSpec(mac: mac, attachment: .bridge("br-zedge"), vlanTag: 100, virtualPort: .openvswitch))
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(nic)) as? [String: Any])
        #expect(json["virtualPort"] as? String == "openvswitch")
        let plain = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(NicSpec(mac: mac, attachment: .bridge("br0"))))
            as? [String: Any])
        #expect(plain["virtualPort"] == nil)
        let bad = #"{"mac":"52:54:00:0a:00:01","attachment":{"type":"bridge","name":"br0"},"virtualPort":"midonet"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NicSpec.self, from: Data(bad.utf8)) }
    }
}
