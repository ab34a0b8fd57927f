#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One NIC of an instance, fixed when the instance is created: the subnet it joins, the address IPAM gave it,
/// what the guest needs to use it, and the VLAN its port carries. Kept in the instance's resolved config, so
/// that a re-create or an evacuation brings the same NIC back with the same address and MAC.
///
/// JSON: `{"subnetId":"…","ipAddressId":"…","ipAddress":"10.0.0.5","prefixLength":24,"gateway":"10.0.0.1",
/// "dnsServers":["10.0.0.2"],"vlanId":100,"macAddress":"52:54:00:ab:cd:ef"}`.
public struct InstanceNetwork: Codable, Sendable, Hashable {
    public var subnetId: UUID
    /// The `IpAddress` row that holds the address for the instance.
    public var ipAddressId: UUID
    /// The address, canonical text (IPv4 dotted quad or RFC 5952 IPv6).
    public var ipAddress: String
    /// The subnet's prefix length (0...32 or 0...128).
    public var prefixLength: Int
    /// The subnet's gateway; nil for none (no default route through this NIC).
    public var gateway: String?
    /// The VPC's DNS servers when it has DNS enabled; empty otherwise.
    public var dnsServers: [String]
    /// The 802.1Q tag of the NIC's port (see `VlanResolution`).
    public var vlanId: Int
    /// "52:54:00:xx:xx:xx", lowercase.
    public var macAddress: String

    public init(subnetId: UUID, ipAddressId: UUID, ipAddress: String, prefixLength: Int, gateway: String?,
                dnsServers: [String], vlanId: Int, macAddress: String) {
        self.subnetId = subnetId
        self.ipAddressId = ipAddressId
        self.ipAddress = ipAddress
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.dnsServers = dnsServers
        self.vlanId = vlanId
        self.macAddress = macAddress
    }

    /// QEMU's locally used OUI (52:54:00), as libvirt gives NICs without a MAC.
    public static let macPrefix: [UInt8] = [0x52, 0x54, 0x00]

    /// A MAC address under `macPrefix` with three random bytes.
    public static func randomMac<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let bytes = macPrefix + (0..<3).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return MACAddress(bytes: bytes)!.description
    }
}

/// The VLAN a subnet's ports carry: the subnet's own `vlanId`, else its VPC's, else its tenant's (DESIGN §10).
public enum VlanResolution {
    public static func vlan(subnet: Int?, vpc: Int?, tenant: Int?) -> Int? { subnet ?? vpc ?? tenant }
}
