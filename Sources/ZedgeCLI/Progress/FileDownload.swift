import Foundation
import Synchronization
import ZedgeTransport
#if canImport(Glibc)
import Glibc
#endif

/// A download streamed into a file (`CurlHTTPClient.download`), reporting bytes received and the rate. An
/// error answer (status ≥ 300) is kept in memory instead, for its problem document.
/// `@unchecked Sendable`: the descriptor is written only from the client's queue (one transfer at a time);
/// the rest is behind a Mutex.
public final class FileDownload: CurlDownloadSink, @unchecked Sendable {
    private let fd: Int32
    private let reporter: ProgressReporter?
    private let started = ContinuousClock.now
    private let state = Mutex<(total: Int64, received: Int64, bucket: Int, reportedAt: ContinuousClock.Instant?, error: Data?, failed: Bool)>(
        (0, 0, -1, nil, nil, false))
    private let terminal: Bool

    /// Creates (or truncates) `path`, mode 0644.
    public init(path: String, showProgress: Bool, terminal: Bool = StandardError.isTerminal) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CLIError.usage("cannot write \(path): \(String(cString: strerror(errno)))") }
        self.terminal = terminal
        reporter = showProgress ? ProgressReporter(title: "downloading", terminal: terminal) : nil
    }

    deinit { close(fd) }

    public func begin(status: Int, headers: [String: String]) -> Bool {
        state.withLock { state in
            state.total = headers["content-length"].flatMap { Int64($0) } ?? 0
            if status >= 300 { state.error = Data() }
        }
        return true
    }

    public func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let buffered = state.withLock { state -> Bool in
            guard state.error != nil else { return false }
            state.error!.append(contentsOf: bytes.prefix(64 << 10 - state.error!.count))
            return true
        }
        if buffered { return true }
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                state.withLock { $0.failed = true }
                return false
            }
            offset += written
        }
        report(adding: Int64(bytes.count))
        return true
    }

    /// The error answer's body, when the status was ≥ 300.
    public var errorBody: Data? { state.withLock { $0.error } }
    /// Whether writing the file failed.
    public var writeFailed: Bool { state.withLock { $0.failed } }

    private func report(adding count: Int64) {
        let now = ContinuousClock.now
        let (due, received, total) = state.withLock { state -> (Bool, Int64, Int64) in
            state.received += count
            let fraction = state.total > 0 ? Double(state.received) / Double(state.total) : 0
            let bucket = Int(fraction * 10)
            let due = terminal ? state.reportedAt.map { now - $0 >= .milliseconds(100) } ?? true : bucket > state.bucket
            if due { state.bucket = bucket; state.reportedAt = now }
            return (due, state.received, state.total)
        }
        guard due, let reporter else { return }
        reporter.update(Self.describe(received: received, total: total, elapsed: now - started),
                        fraction: total > 0 ? Double(received) / Double(total) : 0)
    }

    /// Ends the bar.
    public func finish(succeeded: Bool) {
        let (received, total, refused) = state.withLock { ($0.received, $0.total, $0.error != nil) }
        let text = refused ? "download refused" : Self.describe(received: received, total: total, elapsed: ContinuousClock.now - started)
        reporter?.finish(text, succeeded: succeeded)
    }

    /// `downloading 12.0 MiB / 100.0 MiB (12%, 3.4 MiB/s)`.
    static func describe(received: Int64, total: Int64, elapsed: Duration) -> String {
        FileUpload.describe(sent: received, total: max(total, received), elapsed: elapsed).replacingOccurrences(of: "uploading", with: "downloading")
    }
}
