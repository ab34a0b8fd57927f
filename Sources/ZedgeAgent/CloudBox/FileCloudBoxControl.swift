#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZedgeCore

/// The production `CloudBoxControl`: it writes what the coordinator asked for into one directory (default
/// `/etc/zedge-cloudbox`, created 0755 on first use), where the box's session and network tools read it.
/// Every file is replaced atomically (temporary file, fsync, rename, fsync of the directory), so a reader sees
/// the old content or the new one, never a part.
///
/// - `session.json` (0600: it holds the console ticket and tunnel URL): the `CloudBoxBindPayload` as pretty JSON
///   with sorted keys, dates ISO-8601 UTC, and `console.websocketUrl` filled in (the box's session client opens it
///   and authenticates to the VM's VNC server with `ticket`, which works once). Present exactly while the box is bound; unbind deletes it (so the ticket does
///   not outlive the session). The session tool must also drop a session once `expiresAt` has passed.
/// - `network.json` (0644): the `CloudBoxNetworkPayload` as pretty JSON with sorted keys (absent fields left
///   out, `dnsServers` always present), then `network.env` (0644) for shell tools, one `KEY="VALUE"` line each
///   for NETWORK_MODE, IP_ADDRESS, SUBNET_MASK, GATEWAY (empty for DHCP) and DNS_SERVERS (space-separated),
///   after a `#` comment line; it can be sourced by sh or used as a systemd `EnvironmentFile=`. Values are
///   validated addresses, so they never need escaping.
/// - `last-reboot-request.json` (0644): `{"reason", "requestedAt"}` of the last `cloudbox.reboot`, written
///   before the `Rebooter` is called.
///
/// An actor, so that one change is finished before the next starts.
public actor FileCloudBoxControl: CloudBoxControl {
    public static let defaultDirectory = URL(fileURLWithPath: "/etc/zedge-cloudbox", isDirectory: true)
    public static let sessionFile = "session.json"
    public static let networkFile = "network.json"
    public static let networkEnvFile = "network.env"
    public static let rebootRequestFile = "last-reboot-request.json"

    public nonisolated let directory: URL
    let rebooter: any Rebooter
    /// The coordinator this box is registered with (`https://host:port`): the session file's console URL is its
    /// console tunnel there.
    let coordinator: String

    public init(directory: URL = FileCloudBoxControl.defaultDirectory, rebooter: any Rebooter, coordinator: String) {
        self.directory = directory
        self.rebooter = rebooter
        var base = coordinator
        while base.hasSuffix("/") { base.removeLast() }
        self.coordinator = base
    }

    /// Writes the session file, with the console's absolute WebSocket URL (`wss://` on an https coordinator).
    public func bind(_ payload: CloudBoxBindPayload) async throws {
        try Self.check(payload.validate())
        var session = payload
        let socketBase = coordinator.hasPrefix("https://") ? "wss://" + coordinator.dropFirst("https://".count)
            : coordinator.hasPrefix("http://") ? "ws://" + coordinator.dropFirst("http://".count) : Substring(coordinator)
        session.console.websocketUrl = socketBase + payload.console.websocketPath
        try write(Self.json(session), to: Self.sessionFile, mode: 0o600)
    }

    @discardableResult
    public func unbind(_ payload: CloudBoxUnbindPayload) async throws -> CloudBoxUnbindOutcome {
        try Self.check(payload.validate())
        let path = path(Self.sessionFile)
        guard let data = try DurableFiles.read(path) else { return .notBound }
        // A session file that does not decode is of no use to anyone: any unbind removes it.
        if let wanted = payload.instanceId, let bound = try? ZedgeJSON.decoder().decode(CloudBoxBindPayload.self, from: data),
           bound.instanceId != wanted {
            return .otherInstanceBound
        }
        try DurableFiles.remove(path)
        return .unbound
    }

    public func configureNetwork(_ payload: CloudBoxNetworkPayload) async throws {
        try Self.check(payload.validate())
        try write(Self.json(payload), to: Self.networkFile, mode: 0o644)
        try write(Data(Self.networkEnv(payload).utf8), to: Self.networkEnvFile, mode: 0o644)
    }

    public func reboot(_ payload: CloudBoxRebootPayload) async throws {
        try Self.check(payload.validate())
        try write(Self.json(CloudBoxRebootRequest(reason: payload.reason, requestedAt: Date())), to: Self.rebootRequestFile, mode: 0o644)
        try await rebooter.reboot(reason: payload.reason)
    }

    public func current() async throws -> CloudBoxState {
        CloudBoxState(
            session: try read(CloudBoxBindPayload.self, from: Self.sessionFile).map(CloudBoxSession.init),
            network: try read(CloudBoxNetworkPayload.self, from: Self.networkFile),
            lastRebootRequest: try read(CloudBoxRebootRequest.self, from: Self.rebootRequestFile))
    }

    /// The `network.env` text for `payload`.
    public static func networkEnv(_ payload: CloudBoxNetworkPayload) -> String {
        let lines = [
            ("NETWORK_MODE", payload.networkMode), ("IP_ADDRESS", payload.ipAddress ?? ""),
            ("SUBNET_MASK", payload.subnetMask ?? ""), ("GATEWAY", payload.gateway ?? ""),
            ("DNS_SERVERS", payload.dnsServers.joined(separator: " ")),
        ]
        return "# Written by zedge-agent (cloudbox.configure-network); do not edit.\n"
            + lines.map { "\($0)=\"\($1)\"\n" }.joined()
    }

    // MARK: Helpers

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func write(_ data: Data, to name: String, mode: mode_t) throws {
        try DurableFiles.createDirectory(directory.path)
        try DurableFiles.writeAtomically(data, to: path(name), mode: mode)
    }

    private func read<T: Decodable>(_ type: T.Type, from name: String) throws -> T? {
        let path = path(name)
        guard let data = try DurableFiles.read(path) else { return nil }
        do { return try ZedgeJSON.decoder().decode(T.self, from: data) } catch {
            throw AgentError("\(path) is not valid: \(error)")
        }
    }

    private static func json(_ value: some Encodable) throws -> Data {
        var data = try ZedgeJSON.encoder(pretty: true).encode(value)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private static func check(_ problems: [FieldError]) throws {
        if !problems.isEmpty { throw ValidationFailure(errors: problems) }
    }
}
