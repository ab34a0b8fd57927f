import Foundation

/// vncdotool's `vncdo`, a real VNC client (RFB, RFC 6143) that can capture the screen, for the console tests of
/// issue #16. `ZEDGE_VNCDO` names it (`make test` installs it with scripts/vncdotool.sh, pinned, from PyPI).
public enum VNCClient {
    public static let path = ProcessInfo.processInfo.environment["ZEDGE_VNCDO"]

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "needs vncdotool: ZEDGE_VNCDO=$(scripts/vncdotool.sh) (make test sets it)" }
    }

    /// Connects to `server` (a UNIX socket's path, or host::port) with `password`, and captures the screen to
    /// `picture`; true when it connected, authenticated and wrote the picture within `timeout` seconds.
    public static func capture(_ server: String, password: String?, to picture: String? = nil, timeout: Int = 20) throws -> Bool {
        guard let path else { throw Missing() }
        let file = picture ?? FileManager.default.temporaryDirectory.appendingPathComponent("vnc-\(UUID().uuidString).png").path
        defer { if picture == nil { try? FileManager.default.removeItem(atPath: file) } }
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-s", server, "--timeout", String(timeout)] + (password.map { ["-p", $0] } ?? []) + ["capture", file]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        return process.terminationStatus == 0 && size > 0
    }
}
