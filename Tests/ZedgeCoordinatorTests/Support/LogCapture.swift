import Logging
import Synchronization

/// Every line a coordinator logs, kept for a test to search (secret scans: no token, ticket or password in logs).
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    /// All lines so far, one per entry: level, label, message and metadata.
    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func handler(label: String) -> some LogHandler { Handler(label: label, capture: self) }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let label: String
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append("\(event.level) \(label) \(event.message) \(merged)")
        }
    }
}
