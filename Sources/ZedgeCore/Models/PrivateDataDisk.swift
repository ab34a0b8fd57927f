#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user's persistent data disk (a Ceph RBD image) that can be attached to instances.
public struct PrivateDataDisk: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var tenantId: UUID
    public var userId: UUID
    public var sizeGb: Int
    public var diskType: PrivateDataDiskType
    public var status: PrivateDataDiskStatus
    public var shareMode: ShareMode
    public var maxAttachments: Int
    /// UNIQUE.
    public var rbdImageName: String
    public var rbdPool: String
    /// The STORAGE resource pool (Ceph cluster) holding the image: an addition to the seed. Nil only for rows
    /// written before it existed.
    public var storagePoolId: UUID?
    /// Why the disk is in ERROR (the agent's reason); nil otherwise. An addition to the seed.
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: UUID?
    public var updatedBy: UUID?

    public init(
        id: UUID = .v7(),
        name: String,
        tenantId: UUID,
        userId: UUID,
        sizeGb: Int,
        diskType: PrivateDataDiskType = .standard,
        status: PrivateDataDiskStatus = .creating,
        shareMode: ShareMode = .exclusive,
        maxAttachments: Int = 1,
        rbdImageName: String,
        rbdPool: String = "private-data-disks",
        storagePoolId: UUID? = nil,
        error: String? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        createdBy: UUID? = nil,
        updatedBy: UUID? = nil
    ) {
        self.id = id
        self.name = name
        self.tenantId = tenantId
        self.userId = userId
        self.sizeGb = sizeGb
        self.diskType = diskType
        self.status = status
        self.shareMode = shareMode
        self.maxAttachments = maxAttachments
        self.rbdImageName = rbdImageName
        self.rbdPool = rbdPool
        self.storagePoolId = storagePoolId
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }
}

extension PrivateDataDisk {
    /// The largest disk, in GiB (64 TiB).
    public static let maximumSizeGb = 65_536
    /// 400 naming `field` unless `sizeGb` is from 1 GiB to `maximumSizeGb`.
    public static func sizeProblem(_ sizeGb: Int, field: String = "sizeGb") -> FieldError? {
        (1...maximumSizeGb).contains(sizeGb) ? nil : FieldError(field: field, message: "must be from 1 to \(maximumSizeGb) (GiB)")
    }

    /// The most attachments a SHARED disk may allow.
    public static let maximumAttachmentsLimit = 16

    /// The RBD image name the coordinator gives a new disk: "pdd-" and the disk's id (never the client's
    /// choice, so that it is UNIQUE and safe in a libvirt volume name).
    public static func imageName(for id: UUID) -> String { imagePrefix + id.uuidString.lowercased() }
    /// What every image name the coordinator gives starts with (the reconciler recognises Zedge's disks by it).
    public static let imagePrefix = "pdd-"

    /// The disk serial the guest sees (`/dev/disk/by-id/virtio-…`): the last 20 hex digits of the id, the
    /// random part of a UUIDv7 (virtio-blk passes on 20 characters; the id's leading digits are a timestamp).
    public var serial: String { Self.serial(for: id) }

    public static func serial(for id: UUID) -> String {
        String(id.uuidString.lowercased().replacing("-", with: "").suffix(20))
    }
}

/// Performance class of a data disk.
public enum PrivateDataDiskType: String, ZedgeEnum {
    case standard = "STANDARD"
    case ssd = "SSD"
    case nvme = "NVME"
}

/// Lifecycle of a data disk.
public enum PrivateDataDiskStatus: String, ZedgeEnum {
    case available = "AVAILABLE"
    case attached = "ATTACHED"
    case creating = "CREATING"
    case deleting = "DELETING"
    case error = "ERROR"
}

/// Whether a data disk may be attached to several instances at once.
public enum ShareMode: String, ZedgeEnum {
    case exclusive = "EXCLUSIVE"
    case shared = "SHARED"
}
