import Foundation
import Synchronization
import ZedgeCore

/// The instance reconciler's passes as the coordinator reports them on /metrics
/// (`zedge_reconcile_last_pass_{started_timestamp_seconds,duration_seconds,instances_read}`, per `kind`), collected by
/// scraping often enough to see each one: a pass's gauges change when it ends, and passes are seconds apart.
final class ReconcilePasses: Sendable {
    struct Pass: Sendable {
        var full: Bool
        /// Wall clock, seconds since the Unix epoch.
        var started: Double
        var seconds: Double
        var instancesRead: Double
        var ended: Double { started + seconds }
    }

    private let state = Mutex<(passes: [Pass], lastStarted: [Bool: Double])>(([], [:]))

    init() {}

    /// Records the last pass of each kind the page shows, if it is new.
    func observe(_ page: PrometheusText) {
        for full in [true, false] {
            let labels = ["kind": full ? "full" : "incremental"]
            guard let started = page.value("zedge_reconcile_last_pass_started_timestamp_seconds", labels), started > 0,
                  let seconds = page.value("zedge_reconcile_last_pass_duration_seconds", labels),
                  let read = page.value("zedge_reconcile_last_pass_instances_read", labels) else { continue }
            state.withLock { state in
                guard state.lastStarted[full] != started else { return }
                state.lastStarted[full] = started
                state.passes.append(Pass(full: full, started: started, seconds: seconds, instancesRead: read))
            }
        }
    }

    var all: [Pass] { state.withLock { $0.passes } }

    /// Whether a pass that began after `time` (wall clock) has been seen: every pass before it has ended.
    func sawPass(startedAfter time: Double) -> Bool {
        state.withLock { $0.passes.contains { $0.started > time } }
    }

    /// The requests of `samples` sent within `window`, by the passes their time in flight overlapped: none, an
    /// incremental pass only, or a full pass.
    func split(_ samples: LatencySamples, within window: Range<Double>) -> (none: LatencySamples, incremental: LatencySamples, full: LatencySamples) {
        let passes = all
        var none: [LatencySamples.Sample] = [], incremental: [LatencySamples.Sample] = [], full: [LatencySamples.Sample] = []
        for sample in samples.all where window.contains(sample.sentAt) {
            let answered = sample.sentAt + sample.milliseconds / 1000
            let overlapped = passes.filter { $0.started < answered && $0.ended > sample.sentAt }
            if overlapped.contains(where: \.full) {
                full.append(sample)
            } else if overlapped.isEmpty {
                none.append(sample)
            } else {
                incremental.append(sample)
            }
        }
        return (LatencySamples(none), LatencySamples(incremental), LatencySamples(full))
    }
}
