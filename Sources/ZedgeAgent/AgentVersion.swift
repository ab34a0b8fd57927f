import CCurl
import CLibvirt
import CSQLite3
import ZedgeCore

/// The versions of the C libraries the agent links, for `--version` output and bug reports.
public enum AgentLibraries {
    public static var libvirtVersion: String {
        var version: UInt = 0
        guard virGetVersion(&version, nil, nil) == 0 else { return "unknown" }
        return "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
    }

    public static var sqliteVersion: String { String(cString: sqlite3_libversion()) }
    public static var curlVersion: String { String(cString: curl_version()) }
}
