import Foundation
import Synchronization

/// The agent run (`AgentRun.header`) this coordinator last saw polling for each host, so that only a poll from
/// a new run (or the first one since this coordinator started) looks for leases to free, and a long-poll that an
/// earlier run left waiting (its agent was killed; the coordinator has not noticed the dead connection) takes no
/// task. In memory: another replica learns of a new run through `TaskWakeChannel`; this one after a restart looks
/// once more and finds nothing to free.
final class AgentRuns: Sendable {
    /// A host's latest run and the runs it replaced (the newest `retiredKept`): a request of a replaced run that
    /// arrives late must not make it the host's run again.
    struct Runs {
        var current: UUID?
        var retired: [UUID] = []
    }

    static let retiredKept = 16
    private let runs = Mutex<[UUID: Runs]>([:])

    /// Whether `run` is new for `host`; it becomes the host's run, unless it is one that was replaced.
    func isNew(_ run: UUID, for host: UUID) -> Bool {
        runs.withLock { runs in
            guard var known = runs[host] else {
                runs[host] = Runs(current: run)
                return true
            }
            guard known.current != run, !known.retired.contains(run) else { return false }
            if let current = known.current { known.retired = Array((known.retired + [current]).suffix(Self.retiredKept)) }
            known.current = run
            runs[host] = known
            return true
        }
    }

    /// Whether `run` may take the host's work: it is the host's latest run, or none is known yet and it was never
    /// replaced.
    func isCurrent(_ run: UUID, for host: UUID) -> Bool {
        runs.withLock { runs in
            guard let known = runs[host] else { return true }
            return known.current.map { $0 == run } ?? !known.retired.contains(run)
        }
    }

    /// Another replica saw `run` start polling for `host`: it is the host's run from now on (unless it was
    /// replaced already, the news having come late). Whether that changed the host's run here.
    func supersede(_ host: UUID, by run: UUID) -> Bool {
        isNew(run, for: host)
    }

    /// Forgets the host's latest run, keeping what it replaced (its leases could not be freed: look again on its
    /// next poll).
    func forget(_ host: UUID) {
        runs.withLock { runs in
            runs[host]?.current = nil
        }
    }
}
