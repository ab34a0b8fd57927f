import Foundation

/// Runs a helper program (xorriso, ovs-vsctl) to completion without blocking a cooperative thread: the exit is awaited
/// through `terminationHandler`, and the output is read on a dispatch thread.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible, Sendable {
        let description: String
    }

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
            throw Failure(description: "\((executable as NSString).lastPathComponent) exited with status \(status): \(tail)")
        }
        return output
    }

    /// Runs `executable` with `arguments` to completion; returns its exit status (-1 if it was killed by a
    /// signal) and its stderr (at most 64 KiB kept). Throws only when it cannot be started.
    static func exitStatus(_ executable: String, _ arguments: [String], in directory: String? = nil) async throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let (exited, continuation) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { continuation.yield($0.terminationStatus); continuation.finish() }
        try process.run()
        let output: String = await withCheckedContinuation { done in
            DispatchQueue.global().async {
                var data = Data()
                while true {
                    let chunk = stderr.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    if data.count < 65_536 { data.append(chunk.prefix(65_536 - data.count)) }
                }
                done.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        var status: Int32 = -1
        for await s in exited { status = process.terminationReason == .exit ? s : -1 }
        return (status, output)
    }
}
