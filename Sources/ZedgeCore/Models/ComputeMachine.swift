#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A physical host in an edge data center that runs VMs through its agent.
/// UNIQUE(edgeDataCenterId, managementIp), UNIQUE(edgeDataCenterId, businessIp).
public struct ComputeMachine: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var hostname: String
    public var name: String
    public var edgeDataCenterId: UUID
    public var resourcePoolId: UUID
    public var machineType: ComputeMachineType
    public var rentalMode: RentalMode
    public var hypervisorType: HypervisorType
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int?
    public var gpuModel: String?
    public var managementIp: String
    public var businessIp: String?
    public var allocatedCpuCores: Int
    public var allocatedMemoryGb: Int
    public var allocatedStorageGb: Int
    public var allocatedGpuCount: Int
    public var status: ComputeMachineStatus
    public var healthStatus: HealthStatus
    public var connectionConfig: JSONValue?
    public var tags: JSONValue?
    public var createdAt: Date
    public var updatedAt: Date
    public var lastHeartbeat: Date?

    public init(
        id: UUID = .v7(),
        hostname: String,
        name: String,
        edgeDataCenterId: UUID,
        resourcePoolId: UUID,
        machineType: ComputeMachineType,
        rentalMode: RentalMode,
        hypervisorType: HypervisorType = .kvm,
        cpuCores: Int,
        memoryGb: Int,
        storageGb: Int,
        gpuCount: Int? = 0,
        gpuModel: String? = nil,
        managementIp: String,
        businessIp: String? = nil,
        allocatedCpuCores: Int = 0,
        allocatedMemoryGb: Int = 0,
        allocatedStorageGb: Int = 0,
        allocatedGpuCount: Int = 0,
        status: ComputeMachineStatus = .active,
        healthStatus: HealthStatus = .healthy,
        connectionConfig: JSONValue? = nil,
        tags: JSONValue? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        lastHeartbeat: Date? = nil
    ) {
        self.id = id
        self.hostname = hostname
        self.name = name
        self.edgeDataCenterId = edgeDataCenterId
        self.resourcePoolId = resourcePoolId
        self.machineType = machineType
        self.rentalMode = rentalMode
        self.hypervisorType = hypervisorType
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
        self.gpuModel = gpuModel
        self.managementIp = managementIp
        self.businessIp = businessIp
        self.allocatedCpuCores = allocatedCpuCores
        self.allocatedMemoryGb = allocatedMemoryGb
        self.allocatedStorageGb = allocatedStorageGb
        self.allocatedGpuCount = allocatedGpuCount
        self.status = status
        self.healthStatus = healthStatus
        self.connectionConfig = connectionConfig
        self.tags = tags
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastHeartbeat = lastHeartbeat
    }
}

extension ComputeMachine {
    /// The Open vSwitch integration bridge its agent last reported (`connectionConfig["integrationBridge"]`);
    /// nil when the host has none, so it cannot attach NICs to tenant networks.
    public var integrationBridge: String? {
        connectionConfig?.objectValue?[Self.integrationBridgeKey]?.stringValue
    }

    /// The `connectionConfig` key of `integrationBridge`.
    public static let integrationBridgeKey = "integrationBridge"
}

/// Kind of compute machine.
public enum ComputeMachineType: String, ZedgeEnum {
    case cpuServer = "CPU_SERVER"
    case pcFarm = "PC_FARM"
    case gpuServer = "GPU_SERVER"
}

/// Hypervisor on a compute machine (Zedge's agent drives KVM through libvirt).
public enum HypervisorType: String, ZedgeEnum {
    case kvm = "KVM"
    case vmware = "VMWARE"
    case hyperV = "HYPER_V"
}

/// Administrative/operational status of a compute machine.
public enum ComputeMachineStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case maintenance = "MAINTENANCE"
    case offline = "OFFLINE"
    case decommissioning = "DECOMMISSIONING"
}

/// Health reported for a compute machine; CRITICAL machines take no new placements.
public enum HealthStatus: String, ZedgeEnum {
    case healthy = "HEALTHY"
    case warning = "WARNING"
    case critical = "CRITICAL"
}
