#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
    /// A STORAGE pool's Ceph cluster (an addition to the seed; nil for other pool types). Its cephx key is
    /// kept apart, in `storage_pool_secrets`, and never returned.
    public var storageConfig: StorageConfig?
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
        storageConfig: StorageConfig? = nil,
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
        self.storageConfig = storageConfig
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A STORAGE resource pool's Ceph cluster (`storageConfig`): where its private data disks live.
public struct StorageConfig: Codable, Sendable, Hashable {
    /// Ceph monitors, "host", "host:port" or "[v6]:port"; 1...16 of them.
    public var monitors: [String]
    /// The RADOS pool of the RBD images; default "private-data-disks" (the seed's `PrivateDataDisk.rbdPool`).
    public var rbdPool: String
    /// The cephx user without "client.", whose key (`cephKey`, write-only) the pool keeps as a secret.
    public var cephUser: String

    public static let defaultRbdPool = "private-data-disks"
    public static let maximumMonitors = 16

    public init(monitors: [String], rbdPool: String = StorageConfig.defaultRbdPool, cephUser: String) {
        self.monitors = monitors
        self.rbdPool = rbdPool
        self.cephUser = cephUser
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        monitors = try c.decode([String].self, forKey: .monitors)
        rbdPool = try c.decodeIfPresent(String.self, forKey: .rbdPool) ?? Self.defaultRbdPool
        cephUser = try c.decode(String.self, forKey: .cephUser)
    }

    /// Problems, fields prefixed with `field` ("storageConfig").
    public func validate(field: String) -> [FieldError] {
        var errors = RbdCluster(storagePoolId: UUID(), monitors: monitors, rbdPool: rbdPool, cephUser: cephUser)
            .validate(field: field)
        if monitors.count > Self.maximumMonitors {
            errors.append(FieldError(field: "\(field).monitors", message: "must name at most \(Self.maximumMonitors) monitors"))
        }
        return errors
    }

    /// The cluster as a task carries it (without the key, which is added when an agent leases the task).
    public func cluster(storagePoolId: UUID) -> RbdCluster {
        RbdCluster(storagePoolId: storagePoolId, monitors: monitors, rbdPool: rbdPool, cephUser: cephUser)
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
