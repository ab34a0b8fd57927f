import Foundation
import Synchronization

/// The agent run (`AgentRun.header`) this coordinator last saw start polling for each host, and when: only a poll
/// from a new run (or the first one since this coordinator started) looks for leases to free, and a long-poll that
/// an earlier run left waiting (its agent was killed; the coordinator has not noticed the dead connection) takes
/// no task. In memory: other replicas learn of a new run through `TaskWakeChannel`; this one after a restart looks
/// once more and finds nothing to free.
///
/// A replaced run is not barred for good: if it polls again it is the host's run again (a late request of a dead
/// run costs one round of freed leases, never a live agent starved of work).
final class AgentRuns: Sendable {
    struct Run {
        var id: UUID
        /// When a replica first saw it poll (that replica's clock).
        var since: Date
    }

    private let runs = Mutex<[UUID: Run]>([:])

    /// Whether `run` is new for `host`; it becomes the host's run either way (since `now` when new).
    func isNew(_ run: UUID, for host: UUID, now: Date) -> Bool {
        runs.withLock { runs in
            guard runs[host]?.id != run else { return false }
            runs[host] = Run(id: run, since: now)
            return true
        }
    }

    /// Whether `run` may take the host's work: it is the host's run, or none is known.
    func isCurrent(_ run: UUID, for host: UUID) -> Bool {
        runs.withLock { $0[host].map { $0.id == run } ?? true }
    }

    /// Another replica saw `run` start polling for `host` at `since`: it is the host's run here too, unless this
    /// replica knows a run that started later (the news came late). Whether that changed the host's run here.
    func supersede(_ host: UUID, by run: UUID, since: Date) -> Bool {
        runs.withLock { runs in
            if let known = runs[host], known.id == run || known.since > since { return false }
            runs[host] = Run(id: run, since: since)
            return true
        }
    }

    /// Forgets the host's run (its leases could not be freed: look again on its next poll).
    func forget(_ host: UUID) {
        _ = runs.withLock { $0.removeValue(forKey: host) }
    }
}
