#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user's workload (a VM made from a template), placed on a compute machine.
///
/// `status` is what the agent last observed; `desiredStatus` is what the user asked for, and the reconciler
/// drives one toward the other (DESIGN §2).
public struct Instance: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var tenantId: UUID
    public var userId: UUID
    public var templateId: UUID?
    /// Observed status.
    public var status: InstanceStatus
    /// Zedge addition: the status the reconciler drives toward.
    public var desiredStatus: InstanceDesiredStatus
    /// Resolved template parameters, snapshotted at create (immutable).
    public var config: JSONValue?
    public var rentalMode: RentalMode?
    public var resourcePoolId: UUID?
    public var computeMachineId: UUID?
    /// UNIQUE when set.
    public var virtualMachineId: UUID?
    /// Zedge addition: stop the instance after it has run this many seconds.
    public var timeoutS: Int?
    public var createdAt: Date
    public var updatedAt: Date
    /// When it last became RUNNING (what `timeoutS` counts from); nil while it is not running.
    public var startedAt: Date?

    public init(
        id: UUID = .v7(),
        name: String,
        tenantId: UUID,
        userId: UUID,
        templateId: UUID? = nil,
        status: InstanceStatus = .creating,
        desiredStatus: InstanceDesiredStatus = .running,
        config: JSONValue? = nil,
        rentalMode: RentalMode? = nil,
        resourcePoolId: UUID? = nil,
        computeMachineId: UUID? = nil,
        virtualMachineId: UUID? = nil,
        timeoutS: Int? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        startedAt: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.tenantId = tenantId
        self.userId = userId
        self.templateId = templateId
        self.status = status
        self.desiredStatus = desiredStatus
        self.config = config
        self.rentalMode = rentalMode
        self.resourcePoolId = resourcePoolId
        self.computeMachineId = computeMachineId
        self.virtualMachineId = virtualMachineId
        self.timeoutS = timeoutS
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
    }
}

/// Observed status of an instance. The seed types it as a String with these values; Zedge adds
/// DELETING and DELETED for delete (soft delete through status).
public enum InstanceStatus: String, ZedgeEnum {
    case creating = "CREATING"
    case starting = "STARTING"
    case running = "RUNNING"
    case stopping = "STOPPING"
    case stopped = "STOPPED"
    case error = "ERROR"
    /// Zedge addition: delete requested, VM being torn down.
    case deleting = "DELETING"
    /// Zedge addition: soft-deleted.
    case deleted = "DELETED"
}

/// What the user asked an instance to be (Zedge addition, DESIGN §2).
public enum InstanceDesiredStatus: String, ZedgeEnum {
    case running = "RUNNING"
    case stopped = "STOPPED"
    case deleted = "DELETED"
}
