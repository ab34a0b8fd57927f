import Foundation
import Synchronization
import ZedgeCore

/// What the reconciler's incremental passes remember between passes (issue #14: a pass must not read every instance
/// when nothing changed), as Kubernetes' controllers keep an informer's cache and resync it now and then.
///
/// Per machine, the report its instances were last judged by (a fingerprint of the domains and states it listed, and
/// when it was made) and whether an instance changed after that report (not judged yet: a report must be newer than
/// the instance). A machine is read again when its report says something else, when one of its instances changed,
/// or while a change awaits a newer report. Every `fullPassInterval` a pass reads every settled instance again.
final class ReconcileLedger: Sendable {
    struct Judged: Sendable {
        var fingerprint: Int
        var reportAt: Date
        /// The newest `updatedAt` of an instance on the machine (or of a VM whose domain it listed, `awaitNewerReport`)
        /// at or after `reportAt`: judged by no report yet.
        var unjudgedChange: Date?
    }

    private struct State {
        var machines: [UUID: Judged] = [:]
        var lastFullPass: Date?
        /// Where the next pass reads instance changes from (wall clock; nil before the first pass).
        var changesFrom: Date?
        /// The instances that had an operation in flight at the last pass: those that no longer do are read again.
        var inFlight: Set<UUID> = []
    }

    private let state = Mutex(State())
    /// How long after a pass its changes are still read again: an `updatedAt` is set when a request begins, and its
    /// transaction commits later (well under a second, even at creates' saturation), or on a replica whose clock is
    /// a little behind (NTP keeps them within milliseconds).
    static let changeMargin: TimeInterval = 10

    /// A fingerprint of what a report says about domains (order does not matter; UUIDs compare case-insensitively).
    static func fingerprint(_ observed: [ObservedVm]) -> Int {
        var hasher = Hasher()
        for entry in observed.map({ "\($0.vmUuid.uppercased()) \($0.state.rawValue)" }).sorted() { hasher.combine(entry) }
        return hasher.finalize()
    }

    /// Whether a pass at `now` reads every settled instance: the first one, then one every `interval`.
    func isFullPassDue(now: Date, interval: TimeInterval) -> Bool {
        state.withLock { state in state.lastFullPass.map { now.timeIntervalSince($0) >= interval } ?? true }
    }

    /// Where to read instance changes from, and the instances in flight at the last pass.
    var since: (changesFrom: Date?, inFlight: Set<UUID>) {
        state.withLock { ($0.changesFrom, $0.inFlight) }
    }

    func judged(_ machine: UUID) -> Judged? {
        state.withLock { $0.machines[machine] }
    }

    /// A VM on `machine` changed at `change`, after the machine's latest report (an orphan's judgement waits for a
    /// newer one): the machine is read again until a report newer than `change` has been judged. A machine not
    /// judged yet is read anyway.
    func awaitNewerReport(_ machine: UUID, than change: Date) {
        state.withLock { state in
            guard var judged = state.machines[machine] else { return }
            judged.unjudgedChange = max(judged.unjudgedChange ?? change, change)
            state.machines[machine] = judged
        }
    }

    /// Records a pass that began at `began` (wall clock) and read what `judged` says per machine (nil: the machine has
    /// no fresh report, so nothing judged it; it is read again once it has one).
    func record(passBegan began: Date, now: Date, full: Bool, judged: [UUID: Judged?], inFlight: Set<UUID>) {
        state.withLock { state in
            if full {
                state.machines = [:]
                state.lastFullPass = now
            }
            for (machine, judgement) in judged { state.machines[machine] = judgement }
            state.changesFrom = began.addingTimeInterval(-Self.changeMargin)
            state.inFlight = inFlight
        }
    }
}
