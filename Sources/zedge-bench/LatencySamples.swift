import Synchronization

/// Latencies of one phase, in milliseconds; percentiles by nearest rank.
final class LatencySamples: Sendable {
    private let samples = Mutex<[Double]>([])

    init() {}

    func add(_ duration: Duration) {
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        samples.withLock { $0.append(milliseconds) }
    }

    var count: Int { samples.withLock { $0.count } }

    /// The `p`-th percentile (0...1), or nil without samples.
    func percentile(_ p: Double) -> Double? {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
