#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Typed payloads of the `disk.*` task kinds (DESIGN §4, §10; issue #11). Every one names the Ceph cluster it
// works in (`RbdCluster`) and the RBD image; the agent reaches the image through a libvirt `rbd` storage pool
// whose cephx key is a libvirt secret (libvirt docs: formatsecret.html "Usage type ceph", formatstorage.html
// "RBD pool").

/// The Ceph cluster of a STORAGE resource pool, as an agent needs it (`ResourcePool.storageConfig` plus the
/// pool's id). One per STORAGE pool: the agent keeps one libvirt secret and one libvirt `rbd` pool for it.
public struct RbdCluster: Codable, Sendable, Hashable {
    /// The STORAGE resource pool's id. It is also the UUID of the libvirt secret that holds the key, so that
    /// a repeated task finds the secret it defined before.
    public var storagePoolId: UUID
    /// Ceph monitors, "host", "host:port" or "[v6]:port" (at least one).
    public var monitors: [String]
    /// The Ceph (RADOS) pool holding the images, e.g. "private-data-disks".
    public var rbdPool: String
    /// The cephx user without "client.", e.g. "zedge".
    public var cephUser: String
    /// The cephx key, base64 as `ceph auth get-key` prints it. Never in a task's stored payload: the
    /// coordinator adds it to the copy it hands to the agent that leased the task (`GET /agent/v1/tasks`),
    /// and the agent redacts it before journaling. Nil everywhere else.
    public var cephKey: String?

    public init(storagePoolId: UUID, monitors: [String], rbdPool: String, cephUser: String, cephKey: String? = nil) {
        self.storagePoolId = storagePoolId
        self.monitors = monitors
        self.rbdPool = rbdPool
        self.cephUser = cephUser
        self.cephKey = cephKey
    }

    /// The JSON key of the secret field, for redaction.
    public static let secretKey = "cephKey"

    /// The libvirt secret's UUID (the STORAGE pool's id).
    public var secretUuid: UUID { storagePoolId }
    /// The libvirt secret's usage name (usage type `ceph`; one secret per usage name on a host).
    public var secretUsage: String { "zedge-\(storagePoolId.uuidString.lowercased()) client.\(cephUser) secret" }
    /// The libvirt storage pool's name on the host.
    public var libvirtPoolName: String { "zedge-rbd-\(storagePoolId.uuidString.lowercased())" }

    /// The disk source of `image` in this cluster, authenticated as `cephUser` with the pool's secret.
    public func source(image: String) -> DiskSource {
        .rbd(pool: rbdPool, image: image, monitors: monitors, authUser: cephUser, secretUuid: secretUuid.uuidString.lowercased())
    }

    /// Problems, fields prefixed with `field` ("cluster"). `cephKey`, when present, must be base64.
    public func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if monitors.isEmpty { errors.append(FieldError(field: "\(field).monitors", message: "must name at least one Ceph monitor")) }
        for (i, m) in monitors.enumerated() {
            if let e = SpecRules.monitor(m, field: "\(field).monitors[\(i)]") { errors.append(e) }
        }
        if let e = Validate.name(rbdPool, field: "\(field).rbdPool") { errors.append(e) }
        if let e = SpecRules.cephUser(cephUser, field: "\(field).cephUser") {
            errors.append(e)
        } else if cephUser.hasPrefix("client.") {
            errors.append(FieldError(field: "\(field).cephUser", message: "is the user's name without \"client.\" (e.g. \"zedge\" for client.zedge)"))
        }
        if let cephKey, Data(base64Encoded: cephKey) == nil || cephKey.isEmpty {
            errors.append(FieldError(field: "\(field).cephKey", message: "must be a base64 cephx key (as `ceph auth get-key` prints it)"))
        }
        return errors
    }
}

/// `disk.create`: an RBD image of `sizeGb` GiB named `image` (idempotent: an image of that name already
/// there is success, and is grown, never shrunk, to `sizeGb`). `observed`: `{"image":…,"capacityBytes":N}`.
public struct DiskCreatePayload: Codable, Sendable, Hashable {
    public var cluster: RbdCluster
    public var image: String
    /// GiB (2^30 bytes).
    public var sizeGb: Int

    public init(cluster: RbdCluster, image: String, sizeGb: Int) {
        self.cluster = cluster
        self.image = image
        self.sizeGb = sizeGb
    }

    public func validate() -> [FieldError] {
        cluster.validate(field: "cluster") + DiskPayloadRules.image(image) + DiskPayloadRules.size(sizeGb)
    }
}

/// `disk.resize`: grow the image to `sizeGb` GiB. On a host where one of `vmUuids` has the image attached
/// and is running, through `virDomainBlockResize` on that domain (which resizes the image and tells the
/// guest); otherwise through `virStorageVolResize`. An image already that large is success; shrinking is
/// refused. `observed`: `{"image":…,"capacityBytes":N,"resizedDomains":[uuid…]}`.
public struct DiskResizePayload: Codable, Sendable, Hashable {
    public var cluster: RbdCluster
    public var image: String
    public var sizeGb: Int
    /// The domains on this task's host that have the image attached (none when it is detached).
    public var vmUuids: [UUID]

    public init(cluster: RbdCluster, image: String, sizeGb: Int, vmUuids: [UUID] = []) {
        self.cluster = cluster
        self.image = image
        self.sizeGb = sizeGb
        self.vmUuids = vmUuids
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cluster = try c.decode(RbdCluster.self, forKey: .cluster)
        image = try c.decode(String.self, forKey: .image)
        sizeGb = try c.decode(Int.self, forKey: .sizeGb)
        vmUuids = try c.decodeIfPresent([UUID].self, forKey: .vmUuids) ?? []
    }

    public func validate() -> [FieldError] {
        cluster.validate(field: "cluster") + DiskPayloadRules.image(image) + DiskPayloadRules.size(sizeGb)
    }
}

/// `disk.delete`: remove the image (absent is success). `observed`: `{"deleted":true}`. An image a running
/// domain still holds fails ("image still has watchers").
public struct DiskDeletePayload: Codable, Sendable, Hashable {
    public var cluster: RbdCluster
    public var image: String

    public init(cluster: RbdCluster, image: String) {
        self.cluster = cluster
        self.image = image
    }

    public func validate() -> [FieldError] { cluster.validate(field: "cluster") + DiskPayloadRules.image(image) }
}

/// `disk.attach`: add the image to the domain `vmUuid` as a `<disk type='network'>` (protocol rbd) with
/// `serial`, `<readonly/>` when `readOnly` and `<shareable/>` (cache none) when `shareable`; live
/// (`VIR_DOMAIN_AFFECT_LIVE`) when the domain runs, and always in its persistent definition
/// (`VIR_DOMAIN_AFFECT_CONFIG`). The agent picks the first free `vd…` target. Idempotent: a domain that has
/// the image already is success. `observed`: `{"target":"vdb","live":Bool}`.
public struct DiskAttachPayload: Codable, Sendable, Hashable {
    public var cluster: RbdCluster
    public var image: String
    public var vmUuid: UUID
    /// What the guest sees as the disk's serial (virtio-blk keeps 20 characters): `PrivateDataDisk.serial`.
    public var serial: String
    public var readOnly: Bool
    public var shareable: Bool

    public init(cluster: RbdCluster, image: String, vmUuid: UUID, serial: String, readOnly: Bool, shareable: Bool) {
        self.cluster = cluster
        self.image = image
        self.vmUuid = vmUuid
        self.serial = serial
        self.readOnly = readOnly
        self.shareable = shareable
    }

    public func validate() -> [FieldError] {
        var errors = cluster.validate(field: "cluster") + DiskPayloadRules.image(image)
        if let e = DiskSpec.serialProblem(serial, field: "serial") { errors.append(e) }
        return errors
    }
}

/// `disk.detach`: remove the image from the domain `vmUuid`, live and from its persistent definition, and wait
/// until the guest has let it go (a detach can report success while the device stays). A domain that does
/// not have it, or no such domain, is success. `observed`: `{"detached":true}`.
public struct DiskDetachPayload: Codable, Sendable, Hashable {
    public var cluster: RbdCluster
    public var image: String
    public var vmUuid: UUID

    public init(cluster: RbdCluster, image: String, vmUuid: UUID) {
        self.cluster = cluster
        self.image = image
        self.vmUuid = vmUuid
    }

    public func validate() -> [FieldError] { cluster.validate(field: "cluster") + DiskPayloadRules.image(image) }
}

/// Field rules shared by the disk payloads.
enum DiskPayloadRules {
    static func image(_ image: String) -> [FieldError] {
        SpecRules.volumeName(image, field: "image").map { [$0] } ?? []
    }

    static func size(_ sizeGb: Int) -> [FieldError] {
        PrivateDataDisk.sizeProblem(sizeGb).map { [$0] } ?? []
    }
}

/// An RBD disk a domain has, as the agent reports it in the heartbeat (`ObservedVm.disks`): from the live
/// definition of a running domain, the persistent one otherwise.
public struct ObservedDisk: Codable, Sendable, Hashable {
    /// The RADOS pool and the image, as in `<source protocol='rbd' name='POOL/IMAGE'>`.
    public var rbdPool: String
    public var image: String
    /// The target device, e.g. "vdb".
    public var target: String
    public var readOnly: Bool
    public var shareable: Bool

    public init(rbdPool: String, image: String, target: String, readOnly: Bool = false, shareable: Bool = false) {
        self.rbdPool = rbdPool
        self.image = image
        self.target = target
        self.readOnly = readOnly
        self.shareable = shareable
    }
}
