import Foundation
import Synchronization
import ZedgeCore
import ZedgeTransport
#if canImport(Glibc)
import Glibc
#endif

/// A file streamed as a request body (`CurlHTTPClient.upload`), reporting bytes sent and the rate.
/// `@unchecked Sendable`: it wraps a file descriptor that only the client's queue reads (one transfer at a time);
/// the progress state is behind a Mutex.
public final class FileUpload: CurlUploadSource, @unchecked Sendable {
    public let totalBytes: Int64
    private let fd: Int32
    private let reporter: ProgressReporter?
    private let started = ContinuousClock.now
    private let lastReported = Mutex<(bucket: Int, at: ContinuousClock.Instant?)>((-1, nil))
    private let sentSoFar = Atomic<Int64>(0)
    private let terminal: Bool

    /// Opens `path` for reading.
    /// - Throws: `CLIError.usage` when it cannot be opened or is not a regular file.
    public init(path: String, showProgress: Bool, terminal: Bool = StandardError.isTerminal) throws {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CLIError.usage("cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CLIError.usage("\(path) is not a regular file")
        }
        totalBytes = Int64(info.st_size)
        self.terminal = terminal
        reporter = showProgress ? ProgressReporter(title: "uploading", terminal: terminal) : nil
    }

    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count < 0, errno == EINTR { continue }
            return count
        }
    }

    public func progress(sent: Int64) {
        sentSoFar.store(sent, ordering: .relaxed)
        guard let reporter else { return }
        let now = ContinuousClock.now
        let fraction = totalBytes > 0 ? Double(sent) / Double(totalBytes) : 1
        // A bar redraws itself: update it at most every 100 ms. Plain lines: one per 10 %.
        let due = lastReported.withLock { last -> Bool in
            let bucket = Int(fraction * 10)
            if terminal {
                guard last.at.map({ now - $0 >= .milliseconds(100) }) ?? true else { return false }
            } else {
                guard bucket > last.bucket else { return false }
            }
            last = (bucket, now)
            return true
        }
        guard due else { return }
        reporter.update(Self.describe(sent: sent, total: totalBytes, elapsed: now - started), fraction: fraction)
    }

    /// Ends the bar (with the bytes sent, and the rate).
    public func finish(succeeded: Bool) {
        reporter?.finish(Self.describe(sent: sentSoFar.load(ordering: .relaxed), total: totalBytes, elapsed: ContinuousClock.now - started),
                         succeeded: succeeded)
    }

    /// `uploading 12.0 MiB / 100.0 MiB (12%, 3.4 MiB/s)`.
    public static func describe(sent: Int64, total: Int64, elapsed: Duration) -> String {
        let seconds = elapsed.seconds
        let rate = seconds > 0 ? Double(sent) / seconds : 0
        let percent = total > 0 ? Int(Double(sent) * 100 / Double(total)) : 100
        return "uploading \(bytes(Double(sent))) / \(bytes(Double(total))) (\(percent)%, \(bytes(rate))/s)"
    }

    /// Binary units with one decimal: `512 B`, `1.5 KiB`, `3.0 GiB`.
    public static func bytes(_ value: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var scaled = value
        var unit = 0
        while scaled >= 1024, unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(scaled)) B" : String(format: "%.1f", scaled) + " " + units[unit]
    }
}
