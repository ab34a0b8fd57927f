#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The cloud-init NoCloud seed every VM gets as a cdrom labelled `cidata` (cloud-init's NoCloud datasource:
/// files `meta-data`, `user-data` and `network-config`). The agent writes the files and builds the ISO 9660
/// image with xorriso; the coordinator decides their contents.
///
/// JSON: `{"instanceId":"…","localHostname":"web-1","userData":"#cloud-config\n…","networkConfig":"version: 2\n…"}`.
public struct CloudInitSeed: Codable, Sendable, Hashable {
    /// meta-data `instance-id`: the Zedge instance id (cloud-init runs its per-instance modules once per id).
    public var instanceId: String
    /// meta-data `local-hostname`: the instance's name.
    public var localHostname: String
    /// The user-data document (`#cloud-config`, a script, …) with the instance's parameters filled in; nil
    /// writes an empty `#cloud-config`.
    public var userData: String?
    /// The network-config document (cloud-init network config version 2, YAML); nil writes none.
    public var networkConfig: String?

    /// cloud-init's own limit for user-data on most datasources is 16 KiB; NoCloud has none, so Zedge keeps
    /// Nova's 64 KiB.
    public static let maximumDocumentBytes = 65_536

    public init(instanceId: String, localHostname: String, userData: String? = nil, networkConfig: String? = nil) {
        self.instanceId = instanceId
        self.localHostname = localHostname
        self.userData = userData
        self.networkConfig = networkConfig
    }

    /// The `meta-data` document (YAML). Both values are validated to need no quoting.
    public var metaData: String {
        "instance-id: \(instanceId)\nlocal-hostname: \(localHostname)\n"
    }

    /// The `user-data` document as written: `userData`, or an empty cloud-config.
    public var userDataDocument: String { userData ?? "#cloud-config\n{}\n" }

    /// Network config version 2 that asks for DHCPv4 on the first NIC, matched by its MAC when there is one.
    public static func dhcpOnFirstNic(mac: String?) -> String {
        let match = mac.map { "macaddress: \"\($0.lowercased())\"" } ?? "name: \"e*\""
        return "version: 2\nethernets:\n  nic0:\n    match: {\(match)}\n    dhcp4: true\n"
    }

    /// Network config version 2 (cloud-init's netplan-like format) giving each NIC, matched by its MAC, its
    /// static address, and the first NIC with a gateway the default route (`routes: [{to: default, via: …}]`,
    /// not the deprecated `gateway4`/`gateway6`), with the NIC's DNS servers. Every value is quoted.
    ///
    /// ```yaml
    /// version: 2
    /// ethernets:
    ///   nic0:
    ///     match:
    ///       macaddress: "52:54:00:ab:cd:ef"
    ///     addresses:
    ///       - "10.0.0.5/24"
    ///     routes:
    ///       - to: "default"
    ///         via: "10.0.0.1"
    ///     nameservers:
    ///       addresses: ["10.0.0.2"]
    /// ```
    public static func staticNetworkConfig(_ nics: [InstanceNetwork]) -> String {
        var out = "version: 2\nethernets:\n"
        let routed = nics.firstIndex { $0.gateway != nil }
        for (i, nic) in nics.enumerated() {
            out += "  nic\(i):\n    match:\n      macaddress: \"\(nic.macAddress.lowercased())\"\n"
            out += "    addresses:\n      - \"\(nic.ipAddress)/\(nic.prefixLength)\"\n"
            if i == routed, let gateway = nic.gateway {
                out += "    routes:\n      - to: \"default\"\n        via: \"\(gateway)\"\n"
            }
            if !nic.dnsServers.isEmpty {
                out += "    nameservers:\n      addresses: [" + nic.dnsServers.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
            }
        }
        return out
    }

    /// A hostname (RFC 1123) made from an instance name: '_' and '.' become '-', the result is lowercased,
    /// cut to 63 characters and stripped of leading and trailing '-'; `fallback` when nothing is left.
    public static func hostname(fromInstanceName name: String, fallback: String) -> String {
        let mapped = name.lowercased().unicodeScalars.map { c -> Character in
            switch c {
            case "a"..."z", "0"..."9": Character(c)
            default: "-"
            }
        }
        let cut = String(String(mapped).prefix(63))
        let trimmed = cut.trimmed { $0 == "-" }
        return trimmed.isEmpty ? fallback : trimmed
    }

    public func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        let id = Array(instanceId.utf8)
        if id.isEmpty || id.count > 128
            || !id.allSatisfy({ isDigit($0) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E })
        {
            errors.append(FieldError(field: "\(field).instanceId",
                                     message: "must be 1-128 letters, digits, '.', '_' or '-'"))
        }
        if let e = Validate.hostname(localHostname, field: "\(field).localHostname") { errors.append(e) }
        if let userData, userData.utf8.count > Self.maximumDocumentBytes {
            errors.append(FieldError(field: "\(field).userData", message: "must be at most \(Self.maximumDocumentBytes) bytes"))
        }
        if let networkConfig, networkConfig.utf8.count > Self.maximumDocumentBytes {
            errors.append(FieldError(field: "\(field).networkConfig",
                                     message: "must be at most \(Self.maximumDocumentBytes) bytes"))
        }
        return errors
    }
}
