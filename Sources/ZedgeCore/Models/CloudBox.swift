#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A thin client at the edge that a user binds (temporarily) to an instance; runs a light agent.
public struct CloudBox: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    /// UNIQUE; a technician pre-registers it.
    public var serialNumber: String
    public var networkId: UUID?
    public var status: CloudBoxStatus
    public var ipAddress: String?
    public var macAddress: String?
    public var firmwareVersion: String?
    public var lastBootTime: Date?
    public var isDisabled: Bool
    public var edgeDataCenterId: UUID?
    public var createdAt: Date
    public var updatedAt: Date
    public var lastHeartbeat: Date?
    public var temporaryInstanceId: UUID?
    public var temporaryBindExpiresAt: Date?
    public var model: String?
    public var manufacturer: String?
    public var hardwareConfig: JSONValue?
    public var location: String?
    public var assignedUserId: UUID?
    public var tags: JSONValue?
    public var networkMode: String?
    public var gateway: String?
    public var dnsServers: JSONValue?
    public var subnetMask: String?
    public var cpuUsagePercent: Double?
    public var memoryUsagePercent: Double?
    public var diskUsagePercent: Double?
    public var temperature: Double?
    public var uptimeSeconds: Int?

    public init(
        id: UUID = .v7(),
        name: String,
        serialNumber: String,
        networkId: UUID? = nil,
        status: CloudBoxStatus = .initializing,
        ipAddress: String? = nil,
        macAddress: String? = nil,
        firmwareVersion: String? = nil,
        lastBootTime: Date? = nil,
        isDisabled: Bool = false,
        edgeDataCenterId: UUID? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        lastHeartbeat: Date? = nil,
        temporaryInstanceId: UUID? = nil,
        temporaryBindExpiresAt: Date? = nil,
        model: String? = nil,
        manufacturer: String? = nil,
        hardwareConfig: JSONValue? = nil,
        location: String? = nil,
        assignedUserId: UUID? = nil,
        tags: JSONValue? = nil,
        networkMode: String? = nil,
        gateway: String? = nil,
        dnsServers: JSONValue? = nil,
        subnetMask: String? = nil,
        cpuUsagePercent: Double? = nil,
        memoryUsagePercent: Double? = nil,
        diskUsagePercent: Double? = nil,
        temperature: Double? = nil,
        uptimeSeconds: Int? = nil
    ) {
        self.id = id
        self.name = name
        self.serialNumber = serialNumber
        self.networkId = networkId
        self.status = status
        self.ipAddress = ipAddress
        self.macAddress = macAddress
        self.firmwareVersion = firmwareVersion
        self.lastBootTime = lastBootTime
        self.isDisabled = isDisabled
        self.edgeDataCenterId = edgeDataCenterId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastHeartbeat = lastHeartbeat
        self.temporaryInstanceId = temporaryInstanceId
        self.temporaryBindExpiresAt = temporaryBindExpiresAt
        self.model = model
        self.manufacturer = manufacturer
        self.hardwareConfig = hardwareConfig
        self.location = location
        self.assignedUserId = assignedUserId
        self.tags = tags
        self.networkMode = networkMode
        self.gateway = gateway
        self.dnsServers = dnsServers
        self.subnetMask = subnetMask
        self.cpuUsagePercent = cpuUsagePercent
        self.memoryUsagePercent = memoryUsagePercent
        self.diskUsagePercent = diskUsagePercent
        self.temperature = temperature
        self.uptimeSeconds = uptimeSeconds
    }
}

/// Status of a CloudBox.
public enum CloudBoxStatus: String, ZedgeEnum {
    case online = "ONLINE"
    case offline = "OFFLINE"
    case initializing = "INITIALIZING"
    case maintenance = "MAINTENANCE"
    case error = "ERROR"
}
