import Foundation
import Synchronization

/// The agent run (`AgentRun.header`) this coordinator last saw polling for each host, so that only a poll from
/// a new run (or the first one since this coordinator started) looks for leases to free. In memory: another
/// coordinator, or this one after a restart, looks once more and finds nothing to free.
final class AgentRuns: Sendable {
    private let runs = Mutex<[UUID: UUID]>([:])

    /// Whether `run` is new for `host`; it becomes the host's run either way.
    func isNew(_ run: UUID, for host: UUID) -> Bool {
        runs.withLock { runs in
            defer { runs[host] = run }
            return runs[host] != run
        }
    }

    /// Forgets the host's run (its leases could not be freed: look again on its next poll).
    func forget(_ host: UUID) {
        _ = runs.withLock { $0.removeValue(forKey: host) }
    }
}
