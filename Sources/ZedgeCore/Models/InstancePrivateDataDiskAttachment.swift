#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A data disk attached to an instance. UNIQUE(instanceId, diskId).
public struct InstancePrivateDataDiskAttachment: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var instanceId: UUID
    public var diskId: UUID
    public var mountPath: String
    public var mountMode: MountMode
    public var attachedAt: Date
    public var attachedBy: UUID
    public var status: AttachmentStatus
    /// Why the attachment FAILED (the agent's reason); nil otherwise. An addition to the seed.
    public var error: String?

    public init(
        id: UUID = .v7(),
        instanceId: UUID,
        diskId: UUID,
        mountPath: String,
        mountMode: MountMode = .rw,
        attachedAt: Date = Date(),
        attachedBy: UUID,
        status: AttachmentStatus = .attaching,
        error: String? = nil
    ) {
        self.id = id
        self.instanceId = instanceId
        self.diskId = diskId
        self.mountPath = mountPath
        self.mountMode = mountMode
        self.attachedAt = attachedAt
        self.attachedBy = attachedBy
        self.status = status
        self.error = error
    }
}

/// How a data disk is mounted: RW (read-write) or RO (read-only).
public enum MountMode: String, ZedgeEnum {
    /// Read-write.
    case rw = "RW"
    /// Read-only.
    case ro = "RO"
}

/// Lifecycle of a disk attachment.
public enum AttachmentStatus: String, ZedgeEnum {
    case attaching = "ATTACHING"
    case attached = "ATTACHED"
    case detaching = "DETACHING"
    case failed = "FAILED"
}
