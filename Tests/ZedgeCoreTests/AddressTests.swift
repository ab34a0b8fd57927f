import Foundation
import Testing
import ZedgeCore

@Suite struct IPv4Tests {
    @Test(arguments: ["0.0.0.0", "255.255.255.255", "10.0.0.1", "192.168.1.254", "1.2.3.4"])
    func accepts(_ s: String) throws {
        let a = try IPv4Address.parse(s)
        #expect(a.description == s)
        #expect(Validate.ipv4(s, field: "ip") == nil && Validate.ipAddress(s, field: "ip") == nil)
    }

    @Test(arguments: ["", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1.2.3.-1", "1..2.3", ".1.2.3",
                      "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1.2.3.4\u{0}", "0x1.2.3.4", "1.2.3.4/24",
                      "١.٢.٣.٤", "1.2.3.1000", "999.999.999.999", "1.2.3.a", "localhost", String(repeating: "1", count: 10_000)])
    func rejects(_ s: String) {
        #expect(IPv4Address(s) == nil)
        #expect(Validate.ipv4(s, field: "ip")?.field == "ip")
    }

    @Test func values() throws {
        #expect(IPv4Address("10.0.0.1")?.value == 0x0A00_0001)
        #expect(IPv4Address(192, 168, 0, 1).description == "192.168.0.1")
        #expect(IPv4Address(0xFFFF_FFFF).octets == [255, 255, 255, 255])
        #expect(IPv4Address("10.0.0.1")! < IPv4Address("10.0.0.2")!)
        #expect(Validate.ipv4("01.2.3.4", field: "ip")?.message.contains("leading zeros") == true)
        #expect(Validate.ipv4("256.1.1.1", field: "ip")?.message.contains("0-255") == true)
        let json = try JSONEncoder().encode([IPv4Address(10, 1, 2, 3)])
        #expect(String(decoding: json, as: UTF8.self) == #"["10.1.2.3"]"#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([IPv4Address].self, from: Data(#"["1.2.3"]"#.utf8)) }
    }
}

@Suite struct IPv6Tests {
    @Test(arguments: [
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2001:db8::1", "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("fe80::1:2:3:4", "fe80::1:2:3:4"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("64:ff9b::1.2.3.4", "64:ff9b::102:304"), ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("1:0:0:2:2:0:0:3", "1::2:2:0:0:3"),
    ])
    func acceptsAndCanonicalises(_ input: String, _ canonical: String) throws {
        #expect(try IPv6Address.parse(input).description == canonical)
        #expect(Validate.ipv6(input, field: "ip") == nil && Validate.ipAddress(input, field: "ip") == nil)
    }

    @Test(arguments: ["", ":", ":::", "::1::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::1",
                      "fe80::1%eth0", "fe80::1%1", ":1::", "1::2:", "1:2:3:4:5:6:7:8::", "::1.2.3", "::1.2.3.4:5",
                      "::01.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", " ::1", "::1 ", "[::1]", "::1/128", "::１",
                      String(repeating: "1:", count: 5_000)])
    func rejects(_ s: String) {
        #expect(IPv6Address(s) == nil, "\(s)")
        #expect(Validate.ipv6(s, field: "ip") != nil)
        #expect(Validate.ipAddress(s, field: "ip") != nil)
    }

    @Test func zoneIdMessage() {
        #expect(Validate.ipv6("fe80::1%eth0", field: "ip")?.message == "must not carry a zone id (%…)")
        #expect(IPAddress("::1")?.family == .v6 && IPAddress("1.2.3.4")?.family == .v4)
    }
}

@Suite struct CIDRTests {
    @Test(arguments: ["10.0.0.0/8", "0.0.0.0/0", "192.168.1.0/24", "10.1.2.3/32", "2001:db8::/32", "::/0", "::1/128", "fe80::/10"])
    func accepts(_ s: String) throws {
        #expect(try CIDRBlock.parse(s).description == s)
        #expect(Validate.cidr(s, field: "cidrBlock") == nil)
    }

    @Test(arguments: ["", "10.0.0.0", "10.0.0.0/", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8",
                      "10.0.0.0/ 8", "256.0.0.0/8", "10.0.0/8", "10.0.0.1/8", "2001:db8::/129", "2001:db8::1/64",
                      "::1::/64", "10.0.0.0/8\n", "10.0.0.0/1000000000000000000000", "10.0.0.0/٨"])
    func rejects(_ s: String) {
        #expect(CIDRBlock(s) == nil, "\(s)")
        #expect(Validate.cidr(s, field: "cidrBlock")?.field == "cidrBlock")
    }

    @Test func hostBitsHint() throws {
        #expect(Validate.cidr("10.0.0.1/8", field: "cidrBlock")?.message == "host bits set, did you mean 10.0.0.0/8")
        #expect(Validate.cidr("2001:db8::1/32", field: "c")?.message == "host bits set, did you mean 2001:db8::/32")
        #expect(Validate.cidr("10.0.0.0/33", field: "c")?.message == "prefix length must be 0-32")
        #expect(try CIDRBlock.parse("10.9.8.7/8", allowHostBits: true).description == "10.0.0.0/8")
        #expect(Validate.ipv4CIDR("2001:db8::/32", field: "c") != nil)
        #expect(Validate.ipv4CIDR("10.0.0.0/16", field: "c") == nil)
    }

    @Test func arithmetic() throws {
        let vpc = try CIDRBlock.parse("10.0.0.0/16")
        #expect(vpc.prefixLength == 16 && vpc.family == .v4)
        #expect(vpc.networkAddress.description == "10.0.0.0" && vpc.ipv4Network == IPv4Address(10, 0, 0, 0))
        #expect(vpc.lastAddress.description == "10.0.255.255")
        #expect(vpc.netmask.description == "255.255.0.0")
        #expect(vpc.numberOfAddresses == 65_536)
        #expect(try CIDRBlock.parse("0.0.0.0/0").numberOfAddresses == 1 << 32)
        #expect(try CIDRBlock.parse("10.0.0.1/32").numberOfAddresses == 1)
        #expect(try CIDRBlock.parse("::/0").numberOfAddresses == .max)
        #expect(try CIDRBlock.parse("2001:db8::/64").numberOfAddresses == UInt128(1) << 64)
        #expect(vpc.contains(IPv4Address(10, 0, 3, 4)) && !vpc.contains(IPv4Address(10, 1, 0, 0)))
        #expect(!vpc.contains(IPAddress("::1")!))
        let sub = try CIDRBlock.parse("10.0.1.0/24")
        #expect(vpc.contains(sub) && !sub.contains(vpc))
        #expect(vpc.overlaps(sub) && sub.overlaps(vpc))
        #expect(!sub.overlaps(try CIDRBlock.parse("10.0.2.0/24")))
        #expect(!vpc.overlaps(try CIDRBlock.parse("10.1.0.0/16")))
        #expect(try CIDRBlock.parse("0.0.0.0/0").overlaps(sub))
        #expect(!vpc.overlaps(try CIDRBlock.parse("::/0")))
        #expect(sub.address(at: 1)?.description == "10.0.1.1")
        #expect(sub.address(at: 255)?.description == "10.0.1.255")
        #expect(sub.address(at: 256) == nil)
        let v6 = try CIDRBlock.parse("2001:db8::/32")
        #expect(v6.contains(IPAddress("2001:db8:ffff::1")!) && !v6.contains(IPAddress("2001:db9::")!))
        #expect(v6.lastAddress.description == "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
        #expect(v6.overlaps(try CIDRBlock.parse("2001:db8:1::/48")))
        let json = try JSONEncoder().encode(["block": vpc])
        #expect(String(decoding: json, as: UTF8.self) == #"{"block":"10.0.0.0\/16"}"#
                || String(decoding: json, as: UTF8.self) == #"{"block":"10.0.0.0/16"}"#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([CIDRBlock].self, from: Data(#"["10.0.0.1/8"]"#.utf8)) }
    }
}

@Suite struct MACTests {
    @Test(arguments: ["00:11:22:33:44:55", "52:54:00:AB:cd:EF", "ff:ff:ff:ff:ff:ff"])
    func accepts(_ s: String) throws {
        #expect(Validate.macAddress(s, field: "macAddress") == nil)
        #expect(try MACAddress.parse(s).description == s.lowercased())
    }

    @Test(arguments: ["", "zz:11:22:33:44:55", "00-11-22-33-44-55", "001122334455", "0011.2233.4455", "00:11:22:33:44",
                      "00:11:22:33:44:55:66", "0:11:22:33:44:55", "00:11:22:33:44:5g", " 00:11:22:33:44:55",
                      "00:11:22:33:44:55\n", "00:11:22:33:44:5\u{0}", "00;11;22;33;44;55", "００:11:22:33:44:55"])
    func rejects(_ s: String) {
        #expect(MACAddress(s) == nil, "\(s)")
        #expect(Validate.macAddress(s, field: "macAddress") != nil)
    }

    @Test func messagesNameTheExpectedForm() {
        #expect(Validate.macAddress("00-11-22-33-44-55", field: "m")?.message.contains("':'") == true)
        #expect(Validate.macAddress("001122334455", field: "m")?.message.contains("52:54:00:12:34:56") == true)
    }

    @Test func random() {
        let m = MACAddress.random()
        #expect(m.description.hasPrefix("52:54:00:") && !m.isMulticast)
        #expect(MACAddress(m.description) == m)
    }
}
