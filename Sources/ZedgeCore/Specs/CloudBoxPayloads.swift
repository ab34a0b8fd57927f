#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Typed payloads of the CloudBox task kinds (DESIGN §4): `cloudbox.bind`, `cloudbox.unbind`,
// `cloudbox.configure-network` and `cloudbox.reboot`, and the state a CloudBox agent reports back as a task's
// `observed` (`CloudBoxState`, which never carries the console ticket).

// MARK: - Bind

/// Where a CloudBox's session client reaches an instance's graphical console (issue #16): a console tunnel's
/// WebSocket on the coordinator the box is registered with, inside which it speaks RFB (RFC 6143) to the VM's
/// VNC server and authenticates with the binding's ticket. The path holds a token: secret, like the ticket.
public struct ConsoleEndpoint: Codable, Sendable, Hashable, CustomStringConvertible {
    public var kind: GraphicsKind
    /// `/console/{token}/websocket`, on the box's coordinator. Secret.
    public var websocketPath: String
    /// The absolute URL (the box's coordinator + `websocketPath`), which the box's agent writes into its session
    /// file; nil in the task's payload. Secret.
    public var websocketUrl: String?

    public init(kind: GraphicsKind, websocketPath: String, websocketUrl: String? = nil) {
        self.kind = kind
        self.websocketPath = websocketPath
        self.websocketUrl = websocketUrl
    }

    public var description: String { "\(kind.rawValue) through the coordinator's console tunnel" }

    /// Problems with the endpoint, fields prefixed with `field` ("console").
    public func validate(field: String) -> [FieldError] {
        let path = Array(websocketPath.utf8)
        let parts = websocketPath.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "console", parts[3] == "websocket", !parts[2].isEmpty,
              parts[2] != ".", parts[2] != "..", path.count <= 512, path.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3F && $0 != 0x23 }) else {
            return [FieldError(field: "\(field).websocketPath", message: "must be a console WebSocket path (/console/{token}/websocket)")]
        }
        return []
    }
}

/// `cloudbox.bind`: show `instanceId`'s console on the box until `expiresAt`. Binding again replaces the
/// session (the coordinator decides who holds the box; the latest bind wins).
///
/// `ticket` is a one-time console secret: it is never part of `description`, `debugDescription` or `dump`
/// output, never in a task's `observed` state, and must never be logged.
public struct CloudBoxBindPayload: Codable, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var instanceId: UUID
    public var instanceName: String
    public var console: ConsoleEndpoint
    /// The one-time console ticket. Secret.
    public var ticket: String
    /// When the session ends; the box's session tool must drop it then, whether or not an unbind arrived.
    public var expiresAt: Date

    public static let ticketLengthRange = 1...4096

    public init(instanceId: UUID, instanceName: String, console: ConsoleEndpoint, ticket: String, expiresAt: Date) {
        self.instanceId = instanceId
        self.instanceName = instanceName
        self.console = console
        self.ticket = ticket
        self.expiresAt = expiresAt
    }

    /// Every problem with the payload (messages never quote the ticket); empty when valid.
    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if let e = Validate.name(instanceName, field: "instanceName") { errors.append(e) }
        errors += console.validate(field: "console")
        let b = Array(ticket.utf8)
        if !Self.ticketLengthRange.contains(b.count) {
            errors.append(FieldError(field: "ticket", message: "must be 1-\(Self.ticketLengthRange.upperBound) characters"))
        } else if !b.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            errors.append(FieldError(field: "ticket", message: "must contain only printable ASCII characters, no spaces"))
        }
        return errors
    }

    public var description: String {
        "CloudBoxBindPayload(instanceId: \(instanceId), instanceName: \(instanceName), console: \(console), ticket: <redacted>, expiresAt: \(ZedgeJSON.formatDate(expiresAt)))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "instanceId": instanceId, "instanceName": instanceName, "console": console.description, "ticket": "<redacted>",
            "expiresAt": expiresAt,
        ])
    }
}

// MARK: - Unbind

/// `cloudbox.unbind`: end the session. With `instanceId`, only a session of that instance is ended (a late
/// unbind of an earlier session leaves a newer one alone); without, whatever session there is.
public struct CloudBoxUnbindPayload: Codable, Sendable, Hashable {
    public var instanceId: UUID?
    /// Why, for the box's logs and screen (e.g. "expired", "released by user").
    public var reason: String?

    public static let reasonMaxLength = 256

    public init(instanceId: UUID? = nil, reason: String? = nil) {
        self.instanceId = instanceId
        self.reason = reason
    }

    public func validate() -> [FieldError] {
        Validate.collect(reason.flatMap { Validate.displayText($0, field: "reason", maxLength: Self.reasonMaxLength) })
    }
}

/// What a `cloudbox.unbind` did (the "unbind" member of its `observed`).
public enum CloudBoxUnbindOutcome: String, Codable, Sendable, Hashable, CaseIterable {
    /// A session was ended.
    case unbound = "UNBOUND"
    /// There was no session (e.g. the unbind was delivered twice); nothing changed.
    case notBound = "NOT_BOUND"
    /// The session belongs to another instance than the one named; it was left alone.
    case otherInstanceBound = "OTHER_INSTANCE_BOUND"
}

// MARK: - Network

/// `cloudbox.configure-network`: the box's IPv4 settings. STATIC needs `ipAddress`, `subnetMask` (a dotted,
/// contiguous netmask) and `gateway` (in that subnet); DHCP takes none of the three. `dnsServers` (IPv4 or
/// IPv6, at most 4; may be empty) apply in both modes, replacing any the DHCP server offers.
public struct CloudBoxNetworkPayload: Codable, Sendable, Hashable {
    /// "DHCP" or "STATIC".
    public var networkMode: String
    public var ipAddress: String?
    public var subnetMask: String?
    public var gateway: String?
    public var dnsServers: [String]

    public static let dhcp = "DHCP"
    public static let staticMode = "STATIC"
    public static let networkModes = [dhcp, staticMode]
    public static let maxDnsServers = 4

    public init(networkMode: String, ipAddress: String? = nil, subnetMask: String? = nil, gateway: String? = nil,
                dnsServers: [String] = []) {
        self.networkMode = networkMode
        self.ipAddress = ipAddress
        self.subnetMask = subnetMask
        self.gateway = gateway
        self.dnsServers = dnsServers
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        networkMode = try c.decode(String.self, forKey: .networkMode)
        ipAddress = try c.decodeIfPresent(String.self, forKey: .ipAddress)
        subnetMask = try c.decodeIfPresent(String.self, forKey: .subnetMask)
        gateway = try c.decodeIfPresent(String.self, forKey: .gateway)
        dnsServers = try c.decodeIfPresent([String].self, forKey: .dnsServers) ?? []
    }

    /// The dotted IPv4 netmask of a prefix length 1…32 (24 is "255.255.255.0").
    public static func netmask(prefixLength: Int) -> String {
        let mask = UInt32.max << UInt32(32 - prefixLength)
        return (0..<4).map { String((mask >> UInt32(24 - 8 * $0)) & 0xFF) }.joined(separator: ".")
    }

    /// The prefix length of a dotted IPv4 netmask ("255.255.255.0" is 24); nil unless it is a valid,
    /// contiguous, non-zero mask.
    public static func prefixLength(ofNetmask mask: String) -> Int? {
        guard let m = IPv4Address(mask)?.value, m != 0 else { return nil }
        let inverted = ~m
        guard inverted & (inverted &+ 1) == 0 else { return nil }  // ones then zeros only
        return m.nonzeroBitCount
    }

    /// Every problem with the payload; empty when valid.
    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        switch networkMode {
        case Self.staticMode:
            func required(_ value: String?, _ field: String, _ check: (String) -> FieldError?) {
                if let value {
                    if let e = check(value) { errors.append(e) }
                } else {
                    errors.append(FieldError(field: field, message: "is required when networkMode is STATIC"))
                }
            }
            required(ipAddress, "ipAddress") { Validate.ipv4($0, field: "ipAddress") }
            required(subnetMask, "subnetMask") {
                Validate.ipv4($0, field: "subnetMask")
                    ?? (Self.prefixLength(ofNetmask: $0) == nil
                        ? FieldError(field: "subnetMask", message: "must be a contiguous IPv4 netmask, e.g. 255.255.255.0") : nil)
            }
            required(gateway, "gateway") { Validate.ipv4($0, field: "gateway") }
            if errors.isEmpty, let ip = ipAddress.flatMap(IPv4Address.init), let gw = gateway.flatMap(IPv4Address.init),
               let prefix = subnetMask.flatMap(Self.prefixLength(ofNetmask:)),
               let subnet = try? CIDRBlock(address: .v4(ip), prefixLength: prefix) {
                if prefix <= 30 && (IPAddress.v4(ip) == subnet.networkAddress || IPAddress.v4(ip) == subnet.lastAddress) {
                    errors.append(FieldError(field: "ipAddress", message: "must not be the network or broadcast address of \(subnet)"))
                }
                if !subnet.contains(gw) {
                    errors.append(FieldError(field: "gateway", message: "must be in the box's subnet \(subnet)"))
                } else if gw == ip {
                    errors.append(FieldError(field: "gateway", message: "must differ from ipAddress"))
                }
            }
        case Self.dhcp:
            for (value, field) in [(ipAddress, "ipAddress"), (subnetMask, "subnetMask"), (gateway, "gateway")] where value != nil {
                errors.append(FieldError(field: field, message: "must not be set when networkMode is DHCP"))
            }
        default:
            errors.append(FieldError(field: "networkMode", message: "must be one of " + Self.networkModes.joined(separator: ", ")))
        }
        if dnsServers.count > Self.maxDnsServers {
            errors.append(FieldError(field: "dnsServers", message: "must list at most \(Self.maxDnsServers) servers"))
        }
        var seen: Set<IPAddress> = []
        for (i, server) in dnsServers.enumerated() {
            if let e = Validate.ipAddress(server, field: "dnsServers[\(i)]") {
                errors.append(e)
            } else if let a = IPAddress(server), !seen.insert(a).inserted {
                errors.append(FieldError(field: "dnsServers[\(i)]", message: "must not repeat a server"))
            }
        }
        return errors
    }
}

// MARK: - Reboot

/// `cloudbox.reboot`.
public struct CloudBoxRebootPayload: Codable, Sendable, Hashable {
    public var reason: String?

    public static let reasonMaxLength = 256

    public init(reason: String? = nil) { self.reason = reason }

    public func validate() -> [FieldError] {
        Validate.collect(reason.flatMap { Validate.displayText($0, field: "reason", maxLength: Self.reasonMaxLength) })
    }
}

// MARK: - Observed state

/// A bound session as a CloudBox reports it: the bind payload without its secrets (the ticket, and the console's
/// WebSocket path, which holds a token).
public struct CloudBoxSession: Codable, Sendable, Hashable {
    public var instanceId: UUID
    public var instanceName: String
    public var consoleKind: GraphicsKind
    public var expiresAt: Date

    public init(instanceId: UUID, instanceName: String, consoleKind: GraphicsKind, expiresAt: Date) {
        self.instanceId = instanceId
        self.instanceName = instanceName
        self.consoleKind = consoleKind
        self.expiresAt = expiresAt
    }

    public init(_ bind: CloudBoxBindPayload) {
        self.init(instanceId: bind.instanceId, instanceName: bind.instanceName, consoleKind: bind.console.kind, expiresAt: bind.expiresAt)
    }
}

/// The last reboot a CloudBox agent was asked for.
public struct CloudBoxRebootRequest: Codable, Sendable, Hashable {
    public var reason: String?
    public var requestedAt: Date

    public init(reason: String?, requestedAt: Date) {
        self.reason = reason
        self.requestedAt = requestedAt
    }
}

/// What a CloudBox has applied, reported as the `observed` of every `cloudbox.*` task (a `cloudbox.unbind`
/// adds `"unbind": CloudBoxUnbindOutcome`). Absent parts are JSON null: `"session": null` means not bound.
public struct CloudBoxState: Codable, Sendable, Hashable {
    public var session: CloudBoxSession?
    public var network: CloudBoxNetworkPayload?
    public var lastRebootRequest: CloudBoxRebootRequest?

    public init(session: CloudBoxSession? = nil, network: CloudBoxNetworkPayload? = nil,
                lastRebootRequest: CloudBoxRebootRequest? = nil) {
        self.session = session
        self.network = network
        self.lastRebootRequest = lastRebootRequest
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(session, forKey: .session)
        try c.encode(network, forKey: .network)
        try c.encode(lastRebootRequest, forKey: .lastRebootRequest)
    }
}
