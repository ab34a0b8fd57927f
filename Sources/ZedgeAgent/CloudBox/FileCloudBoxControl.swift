import Foundation
import ZedgeCore

/// The production `CloudBoxControl`: it writes what the coordinator asked for into one directory (default
/// `/etc/zedge-cloudbox`, created 0755 on first use), where the box's session and network tools read it.
/// Every file is replaced atomically (temporary file, fsync, rename, fsync of the directory), so a reader sees
/// the old content or the new one, never a part.
///
/// - `session.json` (0600: it holds the console ticket): the `CloudBoxBindPayload` as pretty JSON with sorted
///   keys, dates ISO-8601 UTC. Present exactly while the box is bound; unbind deletes it (so the ticket does
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

    public init(directory: URL = FileCloudBoxControl.defaultDirectory, rebooter: any Rebooter) {
        self.directory = directory
        self.rebooter = rebooter
    }

    public func bind(_ payload: CloudBoxBindPayload) async throws {
        try Self.check(payload.validate())
        try write(Self.json(payload), to: Self.sessionFile, mode: 0o600)
    }

    @discardableResult
    public func unbind(_ payload: CloudBoxUnbindPayload) async throws -> CloudBoxUnbindOutcome {
        try Self.check(payload.validate())
        let path = path(Self.sessionFile)
        guard let data = try CloudBoxFiles.read(path) else { return .notBound }
        // A session file that does not decode is of no use to anyone: any unbind removes it.
        if let wanted = payload.instanceId, let bound = try? ZedgeJSON.decoder().decode(CloudBoxBindPayload.self, from: data),
           bound.instanceId != wanted {
            return .otherInstanceBound
        }
        try CloudBoxFiles.remove(path)
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
        try CloudBoxFiles.createDirectory(directory.path)
        try CloudBoxFiles.writeAtomically(data, to: path(name), mode: mode)
    }

    private func read<T: Decodable>(_ type: T.Type, from name: String) throws -> T? {
        let path = path(name)
        guard let data = try CloudBoxFiles.read(path) else { return nil }
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

/// The few POSIX file operations the CloudBox files need (blocking; the files are small).
enum CloudBoxFiles {
    static func createDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
    }

    /// The file's bytes, or nil if it does not exist.
    static func read(_ path: String) throws -> Data? {
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            if !FileManager.default.fileExists(atPath: path) { return nil }
            throw AgentError("cannot read \(path): \(error)")
        }
    }

    /// Replaces `path` with `data`: a temporary file created with `mode` (umask notwithstanding) is written,
    /// fsynced and renamed over it, then the directory is fsynced so the rename survives a power cut.
    static func writeAtomically(_ data: Data, to path: String, mode: mode_t) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp").path
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw failure("cannot create", temporary) }
        do {
            guard fchmod(fd, mode) == 0 else { throw failure("cannot chmod", temporary) }
            try writeAll(fd, data, path: temporary)
            guard fsync(fd) == 0 else { throw failure("cannot fsync", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            unlink(temporary)
            throw failure("cannot write", temporary)
        }
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot replace", path)
            unlink(temporary)
            throw error
        }
        syncDirectory(directory)
    }

    /// Appends `data` to `path` (created with `mode` if missing) and fsyncs it.
    static func append(_ data: Data, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("cannot open", path) }
        defer { close(fd) }
        try writeAll(fd, data, path: path)
        guard fsync(fd) == 0 else { throw failure("cannot fsync", path) }
    }

    /// Removes `path` (absent is fine) and fsyncs its directory.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("cannot remove", path) }
        syncDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    private static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot write", path)
                }
                offset += n
            }
        }
    }

    /// Best effort: a directory that cannot be opened or synced leaves the change in place, only less durable.
    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func failure(_ what: String, _ path: String) -> AgentError {
        AgentError("\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
