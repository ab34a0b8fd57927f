#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// One `LibvirtConnection` per Ceph cluster (STORAGE pool id), opened on first use and kept: each has its own
/// serial queue, so a cluster whose calls hang (libvirt waits 30 s for a pool whose monitors do not answer)
/// does not hold up the calls of another.
final class ClusterConnections: Sendable {
    let uri: String
    private let connections = Mutex<[UUID: LibvirtConnection]>([:])

    init(uri: String) { self.uri = uri }

    func connection(_ storagePoolId: UUID) -> LibvirtConnection {
        connections.withLock { connections in
            if let existing = connections[storagePoolId] { return existing }
            let made = LibvirtConnection(uri: uri)
            connections[storagePoolId] = made
            return made
        }
    }
}
