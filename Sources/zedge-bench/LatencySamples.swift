import Foundation
import Synchronization
import ZedgeCore

/// Latencies of one phase, in milliseconds, each with when its request was sent (wall clock, seconds since the
/// Unix epoch, so that it compares with the coordinator's own timestamps); percentiles by nearest rank.
final class LatencySamples: Sendable {
    struct Sample: Sendable {
        var sentAt: Double
        var milliseconds: Double
    }

    private let samples = Mutex<[Sample]>([])

    init() {}

    init(_ samples: [Sample]) {
        self.samples.withLock { $0 = samples }
    }

    /// A request sent at `sentAt` answered after `duration`.
    func add(_ duration: Duration, sentAt: Date) {
        let sample = Sample(sentAt: sentAt.timeIntervalSince1970, milliseconds: duration.seconds * 1000)
        samples.withLock { $0.append(sample) }
    }

    var count: Int { samples.withLock { $0.count } }

    var all: [Sample] { samples.withLock { $0 } }

    /// The `p`-th percentile (0...1), or nil without samples.
    func percentile(_ p: Double) -> Double? {
        let sorted = samples.withLock { $0.map(\.milliseconds) }.sorted()
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
