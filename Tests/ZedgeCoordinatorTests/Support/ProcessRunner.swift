import Dispatch
import Foundation
import ZedgeTestSupport

/// Finds and runs the package's executables (built beside the test bundle) as real processes.
enum ProcessRunner {
    /// The build products folder: where the test bundle and the executables are.
    static var productsDirectory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !url.path.isEmpty, url.path != "/" {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("zedge-coordinator").path) { return url }
            url.deleteLastPathComponent()
        }
        // Fallback: the default debug build folder of this checkout.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug")
    }

    static func executable(_ name: String) -> URL { productsDirectory.appendingPathComponent(name) }

    /// Starts `zedge-coordinator` with `arguments` (after `serve`) in `process`, with 1 s heartbeats and reconcile
    /// passes and health thresholds no reading reaches (the agents report this machine's real readings, and the
    /// suite saturates it), plus `environment`. Returns the port it announced once it printed its CA hash; its
    /// stdout is drained from then on so it never blocks on a full pipe, and its stderr is dropped.
    /// - Throws: `TestFailure` (after killing it) when it did not announce a port.
    static func startCoordinator(_ process: SpawnedProcess, arguments: [String], environment: [String: String]) async throws -> Int {
        process.executableURL = executable("zedge-coordinator")
        process.arguments = ["serve"] + arguments + ["--log-level", "error"]
        let never = "101"
        process.environment = ProcessInfo.processInfo.environment.merging([
            "ZEDGE_HEARTBEAT_INTERVAL_SECONDS": "1", "ZEDGE_RECONCILE_INTERVAL_SECONDS": "1",
            "ZEDGE_HEALTH_WARNING_CPU_PERCENT": never, "ZEDGE_HEALTH_CRITICAL_CPU_PERCENT": never,
            "ZEDGE_HEALTH_WARNING_MEMORY_PERCENT": never, "ZEDGE_HEALTH_CRITICAL_MEMORY_PERCENT": never,
            "ZEDGE_HEALTH_WARNING_DISK_PERCENT": never, "ZEDGE_HEALTH_CRITICAL_DISK_PERCENT": never,
        ].merging(environment) { $1 }) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let printed = await read(out, until: "CA SHA-256", process: process)
        guard let port = printed.split(separator: "\n").first?.split(separator: ":").last.flatMap({ Int($0) }) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("the coordinator did not start: \(printed)")
        }
        out.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
        return port
    }

    /// Runs to completion; returns the exit status, stdout and stderr. The waiting happens on a dispatch
    /// thread: blocking Swift's cooperative pool would starve the coordinators this test process hosts
    /// (which the child may be talking to).
    static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try runBlocking(name, arguments, environment: environment)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Reads `pipe` until its text contains `marker`, the process ends, or the deadline passes (on a dispatch thread).
    static func read(_ pipe: Pipe, until marker: String, process: SpawnedProcess, timeout: Duration = .seconds(60)) async -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var text = ""
                let deadline = Date().addingTimeInterval(TimeInterval(timeout.components.seconds))
                let handle = pipe.fileHandleForReading
                while !text.contains(marker), Date() < deadline {
                    let chunk = handle.availableData  // blocks this dispatch thread only
                    if chunk.isEmpty { if !process.isRunning { break } else { Thread.sleep(forTimeInterval: 0.05) } }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                continuation.resume(returning: text)
            }
        }
    }

    /// Runs a system command (`ip`, `ovs-vsctl`, …: an absolute path, or a name found on PATH, /usr/sbin or
    /// /sbin) to completion, like `run`.
    static func system(_ command: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let path = try systemExecutable(command)
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try runBlocking(path, arguments, environment: environment)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Like `system`, but a non-zero exit throws, with the command line and its stderr.
    @discardableResult
    static func systemChecked(_ command: String, _ arguments: [String]) async throws -> String {
        let result = try await system(command, arguments)
        guard result.status == 0 else {
            throw TestFailure("`\(([command] + arguments).joined(separator: " "))` exited with \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    static func systemExecutable(_ command: String) throws -> URL {
        if command.hasPrefix("/") { return URL(fileURLWithPath: command) }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        guard let dir = dirs.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(command)") }) else {
            throw TestFailure("\(command) is not installed (scripts/ensure-deps.sh --with-ovs installs what the network tests run)")
        }
        return URL(fileURLWithPath: "\(dir)/\(command)")
    }

    private static func runBlocking(_ name: String, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runBlocking(executable(name), arguments, environment: environment)
    }

    private static func runBlocking(_ url: URL, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = SpawnedProcess()
        process.executableURL = url
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}
