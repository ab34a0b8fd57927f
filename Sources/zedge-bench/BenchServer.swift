#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A server under test, run as a child process on a loopback port: the real `zedge-coordinator serve`, or
/// `zedge-bench bare-server` (the ceiling). Its stdout and stderr go to files in its temporary data dir.
struct BenchServer: Sendable {
    enum Kind: String, Sendable {
        case zedge
        case bare
    }

    static let adminPassword = "zedge-bench-admin-password"

    let kind: Kind
    let pid: pid_t
    let port: Int
    let directory: String
    /// The CA the harness trusts (the server's own, made on its first start).
    let caPEM: String
    let registry: CleanupRegistry

    var baseURL: String { "https://127.0.0.1:\(port)" }

    /// Starts the server and waits until it listens. `executable` is the coordinator binary (zedge) or
    /// this harness's own (bare); `environment` adds to (or overrides) the variables it is given.
    static func start(
        _ kind: Kind, executable: String, heartbeatInterval: Int, databaseURL: String?, registry: CleanupRegistry,
        environment extra: [String: String] = [:]
    ) async throws -> BenchServer {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("zedge-bench-\(kind.rawValue)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        registry.add(directory: directory)
        let arguments: [String]
        var environment = ProcessInfo.processInfo.environment
        switch kind {
        case .zedge:
            arguments = ["serve", "--data-dir", directory, "--listen", "127.0.0.1:0", "--log-level", "warning"]
                + (databaseURL.map { ["--database", $0] } ?? [])
            environment["ZEDGE_BOOTSTRAP_ADMIN_PASSWORD"] = adminPassword
            environment["ZEDGE_HEARTBEAT_INTERVAL_SECONDS"] = String(heartbeatInterval)
            environment["ZEDGE_ACCESS_TOKEN_TTL_SECONDS"] = String(6 * 3600)  // one login for the whole run
        case .bare:
            arguments = ["bare-server", "--data-dir", directory, "--listen", "127.0.0.1:0",
                         "--heartbeat-interval", String(heartbeatInterval)]
        }
        environment.merge(extra) { _, given in given }
        let stdoutPath = "\(directory)/server.out", stderrPath = "\(directory)/server.err"
        let pid = try spawn(executable, arguments, environment: environment, stdout: stdoutPath, stderr: stderrPath)
        registry.add(pid: pid)

        // The first line names the address ("… listening on https://127.0.0.1:PORT"); the coordinator then
        // names its CA. Wait for both, or for the child's early death.
        let marker = kind == .zedge ? "CA SHA-256" : "listening on"
        let deadline = ContinuousClock.now + .seconds(120)
        var printed = ""
        while !printed.contains(marker) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                registry.remove(pid: pid)
                let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                throw BenchError("\(kind.rawValue) server exited before it listened: \(stderr.suffix(2000))")
            }
            guard ContinuousClock.now < deadline else {
                CleanupRegistry.stop(pid, grace: .seconds(2))
                registry.remove(pid: pid)
                throw BenchError("\(kind.rawValue) server did not start within 120 s (see \(stderrPath))")
            }
            try await Task.sleep(for: .milliseconds(50))
            printed = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
        }
        guard let line = printed.split(separator: "\n").first(where: { $0.contains("listening on") }),
              let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else {
            CleanupRegistry.stop(pid, grace: .seconds(2))
            registry.remove(pid: pid)
            throw BenchError("cannot read the \(kind.rawValue) server's port from: \(printed)")
        }
        let caPEM = try String(contentsOfFile: "\(directory)/tls/ca.pem", encoding: .utf8)
        return BenchServer(kind: kind, pid: pid, port: port, directory: directory, caPEM: caPEM, registry: registry)
    }

    /// Returns only by throwing: a `BenchError` when the server exits (with the tail of its stderr), or
    /// CancellationError when the caller is done with it.
    func watch() async throws -> Never {
        while true {
            try await Task.sleep(for: .milliseconds(250))
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { continue }
            registry.remove(pid: pid)
            let signal = status & 0x7F, code = (status >> 8) & 0xFF
            let how = signal != 0 ? "was killed by signal \(signal)" : "exited with status \(code)"
            let stderr = (try? String(contentsOfFile: "\(directory)/server.err", encoding: .utf8)) ?? ""
            throw BenchError("the \(kind.rawValue) server \(how) during the run; its stderr ends:\n\(stderr.suffix(3000))")
        }
    }

    /// Runs `body`, then stops the server; if `body` throws, the tail of the server's stderr is written to ours first
    /// (under `label`).
    func serving<T>(as label: String, _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            await stop()
            return result
        } catch {
            writeStderrTail(as: label)
            await stop()
            throw error
        }
    }

    /// The last 3,000 characters of the server's stderr, to ours, under `label`.
    func writeStderrTail(as label: String) {
        let stderr = (try? String(contentsOfFile: "\(directory)/server.err", encoding: .utf8)) ?? ""
        if !stderr.isEmpty { FileHandle.standardError.write(Data("[\(label)] server stderr (tail):\n\(stderr.suffix(3000))\n".utf8)) }
    }

    /// SIGTERM (then SIGKILL after 10 s), reaped, and its data dir removed. Waits off the cooperative pool.
    func stop() async {
        let pid = self.pid, registry = self.registry, directory = self.directory
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                CleanupRegistry.stop(pid, grace: .seconds(10))
                registry.remove(pid: pid)
                registry.removeDirectory(directory)
                continuation.resume()
            }
        }
    }

    /// posix_spawn with stdout and stderr redirected to files. The child stays in the harness's process
    /// group, so a terminal's Ctrl-C reaches it too.
    static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String], stdout: String, stderr: String
    ) throws -> pid_t {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError("\(executable) is missing; build it first (swift build -c release --product zedge-coordinator)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw BenchError("cannot start \(executable): \(String(cString: strerror(result)))") }
        return pid
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
