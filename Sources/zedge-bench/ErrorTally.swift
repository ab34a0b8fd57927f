import Synchronization

/// Failed requests of one phase, counted by kind ("HTTP 503", "timeout", …) so that a report can say what failed.
final class ErrorTally: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    init() {}

    func record(_ kind: String, count: Int = 1) {
        counts.withLock { $0[kind, default: 0] += count }
    }

    func record(status: UInt) { record("HTTP \(status)") }

    func record(error: any Error) {
        record(String(describing: error).prefix(80).description)
    }

    var total: Int { counts.withLock { $0.values.reduce(0, +) } }

    /// `HTTP 503 ×12, timeout ×3` (most frequent first), or nil when nothing failed.
    var summary: String? {
        let sorted = counts.withLock { $0 }.sorted { $0.value > $1.value }
        guard !sorted.isEmpty else { return nil }
        return sorted.prefix(4).map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }
}
