#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// The agent's view of a CloudBox: the `cloudbox.*` tasks (DESIGN §4), each idempotent (a task may be delivered
/// more than once). Implementations validate what they are given (throwing `ValidationFailure`), since what
/// they write is read by the box's own tools.
public protocol CloudBoxControl: Sendable {
    /// Starts (or replaces) the console session described by `payload`.
    func bind(_ payload: CloudBoxBindPayload) async throws
    /// Ends the session; see `CloudBoxUnbindPayload` for when an unbind is ignored.
    @discardableResult
    func unbind(_ payload: CloudBoxUnbindPayload) async throws -> CloudBoxUnbindOutcome
    /// Applies the box's network settings.
    func configureNetwork(_ payload: CloudBoxNetworkPayload) async throws
    /// Reboots the box (the request is recorded first).
    func reboot(_ payload: CloudBoxRebootPayload) async throws
    /// What is applied now (never the console ticket).
    func current() async throws -> CloudBoxState
}

/// What actually reboots the box.
public protocol Rebooter: Sendable {
    func reboot(reason: String?) async throws
}

/// Reboots the host with `systemctl reboot`. That command only queues the reboot job and returns (it behaves
/// as `--no-block`), so the task's result is journaled before systemd stops the agent, and sent then or after
/// the boot (TaskLoop resends unacknowledged results; a task delivered again is found finished, not rerun).
///
/// The command runs as a child process (`ChildProcess`): the caller's task is suspended until the child exits,
/// not a thread.
public struct SystemRebooter: Rebooter {
    public var executable: String
    public var arguments: [String]

    public init(executable: String = "/usr/bin/systemctl", arguments: [String] = ["reboot"]) {
        self.executable = executable
        self.arguments = arguments
    }

    public func reboot(reason: String?) async throws {
        let command = ([executable] + arguments).joined(separator: " ")
        let outcome: (status: Int32, stderr: String)
        do {
            outcome = try await ChildProcess.exitStatus(executable, arguments)
        } catch {
            throw AgentError("cannot run \(command): \(error)")
        }
        guard outcome.status == 0 else {
            let detail = outcome.stderr.trimmed()
            throw AgentError("\(command) failed with exit status \(outcome.status)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
    }
}

/// Never reboots: appends one JSON line `{"reason":…,"requestedAt":…}` per request to `markerPath`. For tests,
/// selected with `ZEDGE_AGENT_REBOOTER=record` (see `TestHooks`).
public struct RecordingRebooter: Rebooter {
    public var markerPath: String

    public init(markerPath: String) { self.markerPath = markerPath }

    public func reboot(reason: String?) async throws {
        var line = try ZedgeJSON.encoder().encode(CloudBoxRebootRequest(reason: reason, requestedAt: Date()))
        line.append(UInt8(ascii: "\n"))
        try DurableFiles.createDirectory(URL(fileURLWithPath: markerPath).deletingLastPathComponent().path)
        try DurableFiles.append(line, to: markerPath, mode: 0o644)
    }
}
