#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The hypervisor-level VM behind an instance (1:1), on one compute machine.
public struct VirtualMachine: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var computeMachineId: UUID
    /// UNIQUE.
    public var instanceId: UUID
    /// The hypervisor's domain UUID; UNIQUE when set.
    public var vmUuid: String?
    public var vmName: String
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int?
    public var status: VirtualMachineStatus
    public var ipAddress: String?
    public var macAddress: String?
    public var config: JSONValue?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        computeMachineId: UUID,
        instanceId: UUID,
        vmUuid: String? = nil,
        vmName: String,
        cpuCores: Int,
        memoryGb: Int,
        storageGb: Int,
        gpuCount: Int? = 0,
        status: VirtualMachineStatus = .creating,
        ipAddress: String? = nil,
        macAddress: String? = nil,
        config: JSONValue? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.computeMachineId = computeMachineId
        self.instanceId = instanceId
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
        self.status = status
        self.ipAddress = ipAddress
        self.macAddress = macAddress
        self.config = config
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Status of a VM as its host sees it.
public enum VirtualMachineStatus: String, ZedgeEnum {
    case creating = "CREATING"
    case starting = "STARTING"
    case running = "RUNNING"
    case stopping = "STOPPING"
    case stopped = "STOPPED"
    case restarting = "RESTARTING"
    case error = "ERROR"
    case deleted = "DELETED"
}
