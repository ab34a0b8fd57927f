import Foundation
import Synchronization

/// Remembers the orphans already sent a clean-up task (a domain's `vm.delete`, a stray disk's `disk.detach`), by
/// key, so each gets one per window, not one per reconcile pass.
final class OrphanLedger: Sendable {
    private let sent = Mutex<[String: Date]>([:])
    let window: TimeInterval = 300

    func shouldSend(_ uuid: String, now: Date) -> Bool {
        sent.withLock { sent in
            sent = sent.filter { now.timeIntervalSince($0.value) < window }
            guard sent[uuid] == nil else { return false }
            sent[uuid] = now
            return true
        }
    }
}
