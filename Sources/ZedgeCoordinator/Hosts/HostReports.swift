import Foundation
import ZedgeCore

/// What each host last reported about its VMs: this replica's own heartbeats, and with PostgreSQL also those
/// other replicas received (`host_observations`), whichever is newer.
struct HostReports: Sendable {
    struct Report: Sendable {
        var at: Date
        var observedVms: [ObservedVm]
    }

    let tracker: LivenessTracker
    let stored: [UUID: (at: Date, observedVms: [ObservedVm])]

    func latest(_ host: UUID) -> Report? {
        let own = tracker.latest(host).map { Report(at: $0.at, observedVms: $0.observedVms) }
        guard let other = stored[host].map({ Report(at: $0.at, observedVms: $0.observedVms) }) else { return own }
        guard let own else { return other }
        return own.at >= other.at ? own : other
    }
}
