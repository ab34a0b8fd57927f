import CLibvirt
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZedgeCore

/// Private data disks in a Ceph cluster, through libvirt's secret and storage APIs only (never the `rbd` or
/// `qemu-img` CLI): the cephx key is a libvirt secret (usage type `ceph`), the cluster's RADOS pool a libvirt
/// `rbd` storage pool, and each RBD image a volume of it. libvirt docs: formatsecret.html ("Usage type
/// ceph"), formatstorage.html ("RBD pool"), and the virSecret* and virStorage* API references.
///
/// Every libvirt call runs on the connection's serial queue, one queued block per step, never on Swift's
/// cooperative pool. Give this type its own `LibvirtConnection`: starting an `rbd` pool whose key is wrong
/// takes libvirt 30 s (its `client_mount_timeout`), and that must not hold up domain calls and heartbeats.
///
/// The key never leaves the task payload except into libvirt's secret store (`virSecretSetValue`); no error
/// message here includes it.
public struct RbdStorage: Sendable {
    /// The libvirtd this works with (its URI); each cluster's calls run on a connection of their own to it.
    public let connection: LibvirtConnection
    private let clusters: ClusterConnections

    public init(connection: LibvirtConnection) {
        self.connection = connection
        clusters = ClusterConnections(uri: connection.uri)
    }

    /// The connection (and so the serial queue) of one cluster: a cluster that does not answer (a wrong key,
    /// monitors down: 30 s per pool start) holds up only its own disks' calls, never another cluster's.
    func connection(for cluster: RbdCluster) -> LibvirtConnection { clusters.connection(cluster.storagePoolId) }

    /// An RBD image as libvirt's `rbd` pool sees it.
    public struct Volume: Sendable, Hashable {
        /// The RBD image's name (the volume's name in the pool).
        public var image: String
        /// The image's size in bytes (libvirt reports allocation = capacity for RBD).
        public var capacityBytes: Int64
        /// The call made the image (false: it was there).
        public var created: Bool
        /// The call grew the image.
        public var grown: Bool

        public init(image: String, capacityBytes: Int64, created: Bool = false, grown: Bool = false) {
            self.image = image
            self.capacityBytes = capacityBytes
            self.created = created
            self.grown = grown
        }
    }

    // MARK: Secret and pool

    /// Makes sure the libvirt secret of `cluster` exists (UUID `cluster.secretUuid`, usage type `ceph`, usage
    /// name `cluster.secretUsage`, `ephemeral='no' private='yes'`), and, when the payload carries `cephKey`,
    /// that it holds that key: `virSecretSetValue` with the base64-decoded key bytes (libvirt hands the raw
    /// bytes to librados; the base64 text as the value fails every attach with "Invalid argument").
    ///
    /// A task replayed without its key (the journal redacts it) uses the secret defined before.
    /// - Throws: `RbdStorageError.noKey` when there is neither a key nor a secret; `LibvirtError` when
    ///   libvirt refuses (a secret defined here whose value cannot be set is undefined again).
    public func ensureSecret(_ cluster: RbdCluster) async throws {
        var key: [UInt8]? = nil
        if let text = cluster.cephKey {
            guard let data = Data(base64Encoded: text), !data.isEmpty else {
                throw RbdStorageError.badKey(storagePoolId: cluster.storagePoolId)
            }
            key = [UInt8](data)
        }
        let uuid = cluster.secretUuid.uuidString.lowercased()
        let xml = """
        <secret ephemeral='no' private='yes'>
          <uuid>\(uuid)</uuid>
          <usage type='ceph'><name>\(DomainXML.xmlEscape(cluster.secretUsage))</name></usage>
        </secret>
        """
        let storagePoolId = cluster.storagePoolId
        try await connection(for: cluster).perform { [key] conn in
            var defined = false
            var secret = virSecretLookupByUUIDString(conn, uuid)
            if secret == nil {
                let error = LibvirtError.last("looking up libvirt secret \(uuid) failed")
                guard error.code == Int32(VIR_ERR_NO_SECRET.rawValue) else { throw error }
                guard key != nil else { throw RbdStorageError.noKey(storagePoolId: storagePoolId, secretUuid: uuid) }
                guard let made = virSecretDefineXML(conn, xml, 0) else {
                    throw LibvirtError.last("defining libvirt secret \(uuid) failed")
                }
                secret = made
                defined = true
            }
            guard let secret else { throw LibvirtError(code: -1, message: "no libvirt secret \(uuid)") }
            defer { virSecretFree(secret) }
            guard var bytes = key else { return }
            let rc = bytes.withUnsafeBufferPointer { virSecretSetValue(secret, $0.baseAddress, $0.count, 0) }
            for i in bytes.indices { bytes[i] = 0 }
            if rc != 0 {
                let error = LibvirtError.last("setting the value of libvirt secret \(uuid) failed")
                if defined { virSecretUndefine(secret) }
                throw error
            }
        }
    }

    /// Makes sure `cluster`'s secret exists (`ensureSecret`) and its libvirt `rbd` pool
    /// (`cluster.libvirtPoolName`: source name = `rbdPool`, one `<host>` per monitor, `<auth type='ceph'
    /// username=cephUser>` with the secret's UUID) is defined, started and set to autostart. A pool defined
    /// with other monitors, RADOS pool, user or secret is stopped and defined again.
    ///
    /// Starting the pool connects to the cluster; with a wrong key or unreachable monitors libvirt gives up
    /// after 30 s.
    /// - Throws: `RbdStorageError.poolStart` when the pool does not start; `LibvirtError` otherwise.
    public func ensurePool(_ cluster: RbdCluster) async throws {
        try await ensureSecret(cluster)
        let name = cluster.libvirtPoolName
        let xml = Self.poolXML(cluster)
        let wanted = Self.PoolSource(cluster)
        try await connection(for: cluster).perform { conn in
            var pool = virStoragePoolLookupByName(conn, name)
            if pool == nil {
                let error = LibvirtError.last("looking up storage pool \(name) failed")
                guard error.code == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) else { throw error }
            } else if let existing = pool, Self.PoolSource(pool: existing) != wanted {
                // Defined for other monitors, pool, user or secret (the STORAGE pool changed): define it anew.
                if virStoragePoolIsActive(existing) == 1, virStoragePoolDestroy(existing) != 0 {
                    let error = LibvirtError.last("stopping storage pool \(name) failed")
                    virStoragePoolFree(existing)
                    throw error
                }
                if virStoragePoolUndefine(existing) != 0 {
                    let error = LibvirtError.last("undefining storage pool \(name) failed")
                    virStoragePoolFree(existing)
                    throw error
                }
                virStoragePoolFree(existing)
                pool = nil
            }
            if pool == nil {
                guard let defined = virStoragePoolDefineXML(conn, xml, 0) else {
                    throw LibvirtError.last("defining storage pool \(name) failed")
                }
                pool = defined
            }
            guard let pool else { throw LibvirtError(code: -1, message: "no storage pool \(name)") }
            defer { virStoragePoolFree(pool) }
            if virStoragePoolIsActive(pool) != 1, virStoragePoolCreate(pool, 0) != 0 {
                let error = LibvirtError.last("starting storage pool \(name) failed")
                if virStoragePoolIsActive(pool) != 1 {
                    throw RbdStorageError.poolStart(pool: name, rbdPool: wanted.rbdPool, monitors: cluster.monitors,
                                                    cephUser: cluster.cephUser, libvirtMessage: error.message)
                }
            }
            var autostart: Int32 = 0
            if virStoragePoolGetAutostart(pool, &autostart) == 0, autostart == 0, virStoragePoolSetAutostart(pool, 1) != 0 {
                virResetLastError()  // The pool works without; the next task starts it if libvirtd restarted.
            }
        }
    }

    // MARK: Volumes

    /// Makes RBD image `image` of `capacityBytes` bytes (a raw volume through `virStorageVolCreateXML`). An
    /// image of that name already there is success: grown (`virStorageVolResize`) when smaller, never shrunk.
    /// - Returns: the image with its size after the call.
    public func createVolume(_ cluster: RbdCluster, image: String, capacityBytes: Int64) async throws -> Volume {
        try await ensurePool(cluster)
        let poolName = cluster.libvirtPoolName
        let xml = """
        <volume type='network'>
          <name>\(DomainXML.xmlEscape(image))</name>
          <capacity unit='bytes'>\(capacityBytes)</capacity>
        </volume>
        """
        return try await connection(for: cluster).perform { conn in
            let pool = try Self.requirePool(conn, poolName)
            defer { virStoragePoolFree(pool) }
            if let found = try Self.volume(pool, image) {
                let vol = found.handle
                defer { virStorageVolFree(vol) }
                guard found.capacity < capacityBytes else { return Volume(image: image, capacityBytes: found.capacity) }
                try Self.resize(vol, image, to: capacityBytes)
                return Volume(image: image, capacityBytes: try Self.info(vol, image).capacity, grown: true)
            }
            guard let vol = virStorageVolCreateXML(pool, xml, 0) else {
                throw LibvirtError.last("creating RBD image \(image) in storage pool \(poolName) failed")
            }
            defer { virStorageVolFree(vol) }
            return Volume(image: image, capacityBytes: try Self.info(vol, image).capacity, created: true)
        }
    }

    /// Grows RBD image `image` to `capacityBytes` bytes (`virStorageVolResize`); an image already that large is
    /// success and left as it is (never shrunk). Use `Hypervisor.blockResize` instead for an image a running
    /// domain has attached: QEMU and the guest do not see a resize made here.
    /// - Throws: `RbdStorageError.noImage` when there is no such image.
    public func resizeVolume(_ cluster: RbdCluster, image: String, capacityBytes: Int64) async throws -> Volume {
        try await ensurePool(cluster)
        let poolName = cluster.libvirtPoolName
        let rbdPool = cluster.rbdPool
        return try await connection(for: cluster).perform { conn in
            let pool = try Self.requirePool(conn, poolName)
            defer { virStoragePoolFree(pool) }
            guard let found = try Self.volume(pool, image) else { throw RbdStorageError.noImage(rbdPool: rbdPool, image: image) }
            let vol = found.handle
            defer { virStorageVolFree(vol) }
            guard found.capacity < capacityBytes else { return Volume(image: image, capacityBytes: found.capacity) }
            try Self.resize(vol, image, to: capacityBytes)
            return Volume(image: image, capacityBytes: try Self.info(vol, image).capacity, grown: true)
        }
    }

    /// Removes RBD image `image` (`virStorageVolDelete`); an absent image is success.
    /// - Throws: `RbdStorageError.imageInUse` when Ceph refuses because a client still has the image open
    ///   (libvirt words that, misleadingly, as "No such file or directory"), naming the domains on this host
    ///   that have it attached.
    public func deleteVolume(_ cluster: RbdCluster, image: String) async throws {
        try await ensurePool(cluster)
        let poolName = cluster.libvirtPoolName
        let rbdPool = cluster.rbdPool
        try await connection(for: cluster).perform { conn in
            let pool = try Self.requirePool(conn, poolName)
            defer { virStoragePoolFree(pool) }
            guard let found = try Self.volume(pool, image) else { return }
            let vol = found.handle
            defer { virStorageVolFree(vol) }
            guard virStorageVolDelete(vol, 0) != 0 else { return }
            let error = LibvirtError.last("deleting RBD image \(image) failed")
            // Gone meanwhile (deleted elsewhere) is success; still there means Ceph refused.
            if virStoragePoolRefresh(pool, 0) != 0 { virResetLastError() }
            guard let again = try Self.volume(pool, image) else { return }
            virStorageVolFree(again.handle)
            throw RbdStorageError.imageInUse(rbdPool: rbdPool, image: image,
                                             localDomains: (try? LibvirtHypervisor.otherDomains(conn, holding: rbdPool, image, besides: nil))?
                                                 .map(\.name).sorted() ?? [],
                                             libvirtMessage: error.message)
        }
    }

    /// The image as the pool sees it now (capacity from `virStorageVolGetInfo`), or nil when there is none.
    public func volume(_ cluster: RbdCluster, image: String) async throws -> Volume? {
        try await ensurePool(cluster)
        let poolName = cluster.libvirtPoolName
        return try await connection(for: cluster).perform { conn in
            let pool = try Self.requirePool(conn, poolName)
            defer { virStoragePoolFree(pool) }
            guard let found = try Self.volume(pool, image) else { return nil }
            virStorageVolFree(found.handle)
            return Volume(image: image, capacityBytes: found.capacity)
        }
    }

    // MARK: XML

    /// The `rbd` pool's definition for `cluster`.
    static func poolXML(_ cluster: RbdCluster) -> String {
        let hosts = cluster.monitors.map { monitor -> String in
            let (host, port) = DiskSource.monitorHostPort(monitor) ?? (monitor, nil)
            let portAttribute = port.map { " port='\($0)'" } ?? ""
            return "    <host name='\(DomainXML.xmlEscape(host))'\(portAttribute)/>"
        }.joined(separator: "\n")
        return """
        <pool type='rbd'>
          <name>\(DomainXML.xmlEscape(cluster.libvirtPoolName))</name>
          <source>
            <name>\(DomainXML.xmlEscape(cluster.rbdPool))</name>
        \(hosts)
            <auth type='ceph' username='\(DomainXML.xmlEscape(cluster.cephUser))'>
              <secret uuid='\(cluster.secretUuid.uuidString.lowercased())'/>
            </auth>
          </source>
        </pool>
        """
    }

    /// What decides whether a defined pool serves a cluster: RADOS pool, monitors, user, secret.
    struct PoolSource: Equatable {
        var rbdPool: String
        var hosts: [String]
        var user: String?
        var secretUuid: String?

        init(_ cluster: RbdCluster) {
            rbdPool = cluster.rbdPool
            hosts = cluster.monitors.map { monitor in
                let (host, port) = DiskSource.monitorHostPort(monitor) ?? (monitor, nil)
                return port.map { "\(host)|\($0)" } ?? host
            }
            user = cluster.cephUser
            secretUuid = cluster.secretUuid.uuidString.lowercased()
        }

        /// Read from the pool's XML (`virStoragePoolGetXMLDesc`); an unreadable one matches nothing.
        init(pool: OpaquePointer) {
            guard let text = virStoragePoolGetXMLDesc(pool, 0) else {
                virResetLastError()
                self.init(poolXMLText: "")
                return
            }
            defer { free(text) }
            self.init(poolXMLText: String(cString: text))
        }

        /// Read from a pool's XML; anything but an `rbd` pool matches nothing.
        init(poolXMLText: String) {
            rbdPool = ""
            hosts = []
            guard let root = try? XMLTree(xmlString: poolXMLText).root, root.attribute("type") == "rbd",
                  let source = root.elements(named: "source").first else { return }
            rbdPool = source.elements(named: "name").first?.stringValue ?? ""
            hosts = source.elements(named: "host").map { host in
                let name = host.attribute("name") ?? ""
                return host.attribute("port").map { "\(name)|\($0)" } ?? name
            }
            let auth = source.elements(named: "auth").first
            user = auth?.attribute("username")
            secretUuid = auth?.elements(named: "secret").first?.attribute("uuid")?.lowercased()
        }
    }

    // MARK: On the connection's queue

    private static func requirePool(_ conn: OpaquePointer, _ name: String) throws -> OpaquePointer {
        guard let pool = virStoragePoolLookupByName(conn, name) else {
            throw LibvirtError.last("storage pool \(name) does not exist")
        }
        return pool
    }

    /// The volume and its info, or nil when the pool has no such image. libvirt lists an `rbd` pool's images
    /// when it starts or refreshes: a miss, or a volume whose image went away behind libvirt's back (its info
    /// fails), refreshes the pool and looks again.
    private static func volume(_ pool: OpaquePointer, _ name: String) throws -> (handle: OpaquePointer, capacity: Int64)? {
        for attempt in 0..<2 {
            if attempt == 1, virStoragePoolRefresh(pool, 0) != 0 {
                throw LibvirtError.last("refreshing the storage pool failed")
            }
            guard let vol = virStorageVolLookupByName(pool, name) else {
                let error = LibvirtError.last("looking up RBD image \(name) failed")
                guard error.code == Int32(VIR_ERR_NO_STORAGE_VOL.rawValue) else { throw error }
                continue
            }
            var raw = virStorageVolInfo()
            if virStorageVolGetInfo(vol, &raw) == 0 {
                return (vol, Int64(clamping: raw.capacity))
            }
            let error = LibvirtError.last("reading RBD image \(name) failed")
            virStorageVolFree(vol)
            if attempt == 1 { throw error }
        }
        return nil
    }

    private static func info(_ vol: OpaquePointer, _ name: String) throws -> (capacity: Int64, allocation: Int64) {
        var raw = virStorageVolInfo()
        guard virStorageVolGetInfo(vol, &raw) == 0 else { throw LibvirtError.last("reading RBD image \(name) failed") }
        return (Int64(clamping: raw.capacity), Int64(clamping: raw.allocation))
    }

    private static func resize(_ vol: OpaquePointer, _ name: String, to bytes: Int64) throws {
        guard virStorageVolResize(vol, UInt64(bytes), 0) == 0 else {
            throw LibvirtError.last("resizing RBD image \(name) to \(bytes) bytes failed")
        }
    }
}

/// Why an RBD storage operation failed. No case carries the cephx key.
public enum RbdStorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The task carries no `cephKey` and the host has no libvirt secret for the cluster yet.
    case noKey(storagePoolId: UUID, secretUuid: String)
    /// `cephKey` is not base64.
    case badKey(storagePoolId: UUID)
    /// The `rbd` pool did not start: libvirt's message is misleading ("failed to connect to the RADOS monitor
    /// … No such file or directory") for a wrong key and for unreachable monitors alike.
    case poolStart(pool: String, rbdPool: String, monitors: [String], cephUser: String, libvirtMessage: String)
    /// No such RBD image.
    case noImage(rbdPool: String, image: String)
    /// Ceph refused to remove an image that a client still has open.
    case imageInUse(rbdPool: String, image: String, localDomains: [String], libvirtMessage: String)

    public var description: String {
        switch self {
        case .noKey(let id, let uuid):
            "no cephx key for storage pool \(id.uuidString.lowercased()): the task carries none and this host has no "
                + "libvirt secret \(uuid) yet"
        case .badKey(let id):
            "the cephx key for storage pool \(id.uuidString.lowercased()) is not base64"
        case .poolStart(let pool, let rbdPool, let monitors, let user, let message):
            "cannot reach Ceph pool \(rbdPool) at \(monitors.joined(separator: ",")) as client.\(user): starting libvirt "
                + "storage pool \(pool) failed (\(message)); a wrong cephx key, an unknown user or unreachable monitors "
                + "all fail like this"
        case .noImage(let pool, let image):
            "no RBD image \(pool)/\(image)"
        case .imageInUse(let pool, let image, let domains, let message):
            "RBD image \(pool)/\(image) is still in use (Ceph keeps an image that a client has open; libvirt says: "
                + "\(message)); "
                + (domains.isEmpty ? "no domain on this host has it, so a domain elsewhere may still have it attached"
                    : "attached here to \(domains.joined(separator: ", "))")
                + "; detach it first"
        }
    }
}
