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

/// Test-only reboots: with `ZEDGE_AGENT_REBOOTER=record` in its environment a CloudBox agent never reboots its
/// host; a `cloudbox.reboot` appends a line to `recorded-reboots.jsonl` in the CloudBox directory instead
/// (`RecordingRebooter`), so end-to-end tests can run a CloudBox agent on a development or CI machine. Unset (or
/// `system`) it reboots with `SystemRebooter`; any other value is refused, so that a typo never reboots a test
/// machine.
public enum RebooterHook {
    public static let variable = "ZEDGE_AGENT_REBOOTER"
    public static let markerFile = "recorded-reboots.jsonl"

    public static func rebooter(cloudBoxDirectory: URL,
                                environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Rebooter {
        switch environment[variable] {
        case nil, "system": SystemRebooter()
        case "record": RecordingRebooter(markerPath: cloudBoxDirectory.appendingPathComponent(markerFile).path)
        case let other?: throw AgentError("\(variable)=\(other) is not known; use record (tests) or system")
        }
    }
}
