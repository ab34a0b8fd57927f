#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Asks Open vSwitch whether a bridge exists: `ovs-vsctl --timeout=5 br-exists NAME` (exit 0: yes, 2: no;
/// anything else, or no ovs-vsctl at all, is unknown). The child runs through `ChildProcess`, so no
/// cooperative thread waits on it. `ovs-vsctl` reads `OVS_RUNDIR` from the agent's environment, as every OVS
/// tool does.
public struct OVSBridgeProbe: Sendable {
    /// What `ovs-vsctl br-exists` said.
    public enum Answer: Sendable, Hashable, CustomStringConvertible {
        case present
        case absent
        /// ovs-vsctl is missing, or failed (ovsdb-server not running, timeout): the reason.
        case unknown(String)

        public var description: String {
            switch self {
            case .present: "present"
            case .absent: "absent"
            case .unknown(let reason): "unknown (\(reason))"
            }
        }
    }

    /// The ovs-vsctl executable; nil looks it up on PATH (then /usr/bin, /bin) at each check.
    public let ovsVsctl: String?

    public init(ovsVsctl: String? = nil) {
        self.ovsVsctl = ovsVsctl
    }

    public func check(_ bridge: String) async -> Answer {
        guard let executable = ovsVsctl ?? ChildProcess.find("ovs-vsctl") else {
            return .unknown("ovs-vsctl is not installed (apt-get install openvswitch-switch)")
        }
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            return .unknown("\(executable) is not an executable")
        }
        do {
            let (status, stderr) = try await ChildProcess.exitStatus(executable, ["--timeout=5", "br-exists", bridge])
            switch status {
            case 0: return .present
            case 2: return .absent
            default:
                let tail = stderr.split(separator: "\n").suffix(2).joined(separator: " | ")
                return .unknown("ovs-vsctl br-exists exited with status \(status)" + (tail.isEmpty ? "" : ": \(tail)"))
            }
        } catch {
            return .unknown("ovs-vsctl could not be run: \(error)")
        }
    }

    /// The commands that make `bridge` (what an operator runs when the agent says it is missing).
    public static func howToCreate(_ bridge: String) -> String {
        "ovs-vsctl add-br \(bridge) && ip link set \(bridge) up (on a host without the openvswitch kernel module: "
            + "ovs-vsctl add-br \(bridge) -- set bridge \(bridge) datapath_type=netdev)"
    }
}
