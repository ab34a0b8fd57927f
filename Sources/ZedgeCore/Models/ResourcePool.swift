import Foundation

/// A group of machines (or storage, or IP addresses) in one data center, with totals and allocations.
/// UNIQUE(edgeDataCenterId, name).
public struct ResourcePool: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var edgeDataCenterId: UUID
    public var poolType: ResourcePoolType
    /// A `SchedulingPolicyName` value; the seed keeps it a free String.
    public var schedulingPolicy: String
    public var status: ResourcePoolStatus
    public var totalCpuCores: Int
    public var totalMemoryGb: Int
    public var totalStorageGb: Int
    public var totalGpuCount: Int
    public var allocatedCpuCores: Int
    public var allocatedMemoryGb: Int
    public var allocatedStorageGb: Int
    public var allocatedGpuCount: Int
    /// UNIQUE when set.
    public var subnetId: UUID?
    public var ipPoolConfig: JSONValue?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        edgeDataCenterId: UUID,
        poolType: ResourcePoolType = .compute,
        schedulingPolicy: String = SchedulingPolicyName.loadBalance,
        status: ResourcePoolStatus = .active,
        totalCpuCores: Int = 0,
        totalMemoryGb: Int = 0,
        totalStorageGb: Int = 0,
        totalGpuCount: Int = 0,
        allocatedCpuCores: Int = 0,
        allocatedMemoryGb: Int = 0,
        allocatedStorageGb: Int = 0,
        allocatedGpuCount: Int = 0,
        subnetId: UUID? = nil,
        ipPoolConfig: JSONValue? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.edgeDataCenterId = edgeDataCenterId
        self.poolType = poolType
        self.schedulingPolicy = schedulingPolicy
        self.status = status
        self.totalCpuCores = totalCpuCores
        self.totalMemoryGb = totalMemoryGb
        self.totalStorageGb = totalStorageGb
        self.totalGpuCount = totalGpuCount
        self.allocatedCpuCores = allocatedCpuCores
        self.allocatedMemoryGb = allocatedMemoryGb
        self.allocatedStorageGb = allocatedStorageGb
        self.allocatedGpuCount = allocatedGpuCount
        self.subnetId = subnetId
        self.ipPoolConfig = ipPoolConfig
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a resource pool holds.
public enum ResourcePoolType: String, ZedgeEnum {
    case compute = "COMPUTE"
    case storage = "STORAGE"
    case ipAddress = "IP_ADDRESS"
}

/// Status of a resource pool; only ACTIVE pools take placements.
public enum ResourcePoolStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case maintenance = "MAINTENANCE"
    case disabled = "DISABLED"
}

/// The known values of `ResourcePool.schedulingPolicy` (a plain String in the seed, default "load_balance").
public enum SchedulingPolicyName {
    /// Spread: pick the least utilised machine after placement (the seed's default).
    public static let loadBalance = "load_balance"
    /// Pack: pick the most utilised machine that still fits.
    public static let binPack = "bin_pack"
    /// Every policy the placement engine understands.
    public static let all: [String] = [loadBalance, binPack]
}
