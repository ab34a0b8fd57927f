#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a helper program (xorriso, ovs-vsctl, systemctl) to completion with swift-subprocess: the exit is awaited
/// without blocking a cooperative thread, and stderr is read as it comes (the first 64 KiB kept).
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible, Sendable {
        let description: String
    }

    /// The stderr kept from a child, in bytes; the rest is read and dropped, so the child never blocks on it.
    static let stderrLimit = 65_536

    /// The first executable named `name` on `PATH` (then /usr/bin, /bin), or nil.
    static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let dirs = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"]
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `executable` with `arguments`; returns its stderr (at most 64 KiB kept). A non-zero exit throws
    /// `Failure` with the last lines of stderr.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: String? = nil) async throws -> String {
        let (status, output) = try await exitStatus(executable, arguments, in: directory)
        guard status == 0 else {
            let tail = output.split(separator: "\n").suffix(3).joined(separator: " | ")
            throw Failure(description: "\(URL(fileURLWithPath: executable).lastPathComponent) exited with status \(status): \(tail)")
        }
        return output
    }

    /// Runs `executable` with `arguments` to completion, stdin and stdout on /dev/null; returns its exit status
    /// (-1 if it was killed by a signal) and its stderr (at most 64 KiB kept). Throws only when it cannot be started.
    static func exitStatus(_ executable: String, _ arguments: [String], in directory: String? = nil) async throws -> (status: Int32, stderr: String) {
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), workingDirectory: directory.map { FilePath($0) },
            input: .none, output: .discarded, error: .sequence
        ) { execution in
            var kept: [UInt8] = []
            for try await chunk in execution.standardError {
                let room = stderrLimit - kept.count
                if room > 0 { chunk.withUnsafeBytes { kept.append(contentsOf: $0.prefix(room)) } }
            }
            return String(decoding: kept, as: UTF8.self)
        }
        switch result.terminationStatus {
        case .exited(let code): return (code, result.closureResult)
        case .signaled: return (-1, result.closureResult)
        }
    }
}
