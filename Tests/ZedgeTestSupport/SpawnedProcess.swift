import CSpawn
import Foundation

/// A child process for the tests, with the part of Foundation's `Process` interface they use (set the executable,
/// arguments, environment, directory and standard streams, `run()`, then `isRunning`, `terminate()`,
/// `waitUntilExit()`, `terminationStatus`, `terminationReason`).
///
/// Why not `Process`: swift-corelibs-foundation 6.3.1's `Process.run()` lists `/proc/self/fd` to close the
/// parent's descriptors in the child and can read past its buffer when the test process holds many (fixed upstream
/// in swift-corelibs-foundation PR #5472); it crashed two CI runs. This one starts the child with posix_spawn(3)
/// and closes the rest with `posix_spawn_file_actions_addclosefrom_np` (`CSpawn`), and reaps only its own pid.
public final class SpawnedProcess: @unchecked Sendable {
    /// How the child ended (as `Process.TerminationReason`).
    public enum TerminationReason: Sendable {
        case exit
        case uncaughtSignal
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's environment; nil: this process's.
    public var environment: [String: String]?
    /// The child's working directory; nil: this process's.
    public var currentDirectoryURL: URL?
    /// Each a `Pipe` (the child gets its writing end for output, its reading end for input), a `FileHandle`
    /// (`FileHandle.nullDevice`: /dev/null), or nil (this process's own).
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?

    private let lock = NSLock()
    private var pid: pid_t = 0
    private var status: Int32?

    public init() {}

    /// The child's pid (0 before `run()`).
    public var processIdentifier: pid_t { lock.withLock { pid } }

    /// Starts the child. Throws `Failure` when it cannot (no executable, spawn refused).
    public func run() throws {
        guard let executableURL else { throw Failure(description: "no executableURL") }
        let path = executableURL.path
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let environment = self.environment ?? ProcessInfo.processInfo.environment
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let input = Self.descriptor(standardInput, standard: 0)
        let output = Self.descriptor(standardOutput, standard: 1)
        let error = Self.descriptor(standardError, standard: 2)
        var errorNumber: Int32 = 0
        let child = currentDirectoryURL.map(\.path).withOptionalCString { directory in
            cspawn_start(path, argv, envp, directory, input, output, error, &errorNumber)
        }
        guard child > 0 else {
            throw Failure(description: "cannot start \(path): \(String(cString: strerror(errorNumber)))")
        }
        lock.withLock { pid = child }
        // The child holds its ends of the pipes now; the parent's copies would keep a reader from seeing EOF.
        for (stream, reading) in [(standardInput, true), (standardOutput, false), (standardError, false)] {
            if let pipe = stream as? Pipe { try? (reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting).close() }
        }
    }

    /// True from `run()` until the child has exited (it is reaped here).
    public var isRunning: Bool {
        lock.withLock {
            guard pid > 0, status == nil else { return false }
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid { status = raw }
            return reaped == 0
        }
    }

    /// SIGTERM.
    public func terminate() {
        let child = processIdentifier
        if child > 0, isRunning { kill(child, SIGTERM) }
    }

    /// Blocks the calling thread until the child has exited.
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// The exit status, or the signal's number when a signal ended it (as `Process`).
    public var terminationStatus: Int32 {
        lock.withLock {
            guard let status else { return 0 }
            return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
        }
    }

    public var terminationReason: TerminationReason {
        lock.withLock { (status ?? 0) & 0x7f == 0 ? .exit : .uncaughtSignal }
    }

    /// The descriptor the child gets as `standard` (0, 1 or 2): -1 for /dev/null, this process's own for nil.
    private static func descriptor(_ stream: Any?, standard: Int32) -> Int32 {
        switch stream {
        case let pipe as Pipe: (standard == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting).fileDescriptor
        case let handle as FileHandle where handle === FileHandle.nullDevice: -1
        case let handle as FileHandle: handle.fileDescriptor
        default: standard
        }
    }
}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .some(let string): string.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
