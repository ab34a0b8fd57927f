import Foundation

/// Test-only crash points: with `ZEDGE_AGENT_FAULT=<point>` in its environment the agent kills itself
/// (SIGKILL, as `kill -9` would) when it reaches that point. The crash-safety tests use this to stop an agent
/// at the worst moment (the hypervisor has acted, the journal does not know yet); unset, it does nothing.
public enum FaultInjection {
    public enum Point: String, Sendable {
        case afterExecute = "crash-after-execute"
    }

    static let armed = ProcessInfo.processInfo.environment["ZEDGE_AGENT_FAULT"].flatMap(Point.init(rawValue:))

    public static func point(_ point: Point) {
        guard armed == point else { return }
        kill(getpid(), SIGKILL)
    }
}
