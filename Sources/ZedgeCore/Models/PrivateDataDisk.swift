import Foundation

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
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
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
