#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An edge site that holds resource pools, compute machines, CloudBoxes and VPCs. `name` is UNIQUE.
public struct EdgeDataCenter: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var location: String?
    public var status: EdgeDataCenterStatus
    public var networkConfig: JSONValue?
    public var totalCpuCores: Int
    public var totalMemoryGb: Int
    public var totalStorageGb: Int
    public var totalGpuCount: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        name: String,
        location: String? = nil,
        status: EdgeDataCenterStatus = .active,
        networkConfig: JSONValue? = nil,
        totalCpuCores: Int = 0,
        totalMemoryGb: Int = 0,
        totalStorageGb: Int = 0,
        totalGpuCount: Int = 0,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.location = location
        self.status = status
        self.networkConfig = networkConfig
        self.totalCpuCores = totalCpuCores
        self.totalMemoryGb = totalMemoryGb
        self.totalStorageGb = totalStorageGb
        self.totalGpuCount = totalGpuCount
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Status of an edge data center.
public enum EdgeDataCenterStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case offline = "OFFLINE"
    case maintenance = "MAINTENANCE"
}
