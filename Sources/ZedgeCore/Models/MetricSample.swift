#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One heartbeat's metrics of a machine or CloudBox (kept with bounded retention).
public struct MetricSample: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var computeMachineId: UUID?
    public var cloudBoxId: UUID?
    public var recordedAt: Date
    public var cpuUsagePercent: Double?
    public var memoryUsagePercent: Double?
    public var diskUsagePercent: Double?
    public var temperature: Double?
    public var uptimeSeconds: Int?
    public var extra: JSONValue?

    public init(
        id: UUID = .v7(),
        computeMachineId: UUID? = nil,
        cloudBoxId: UUID? = nil,
        recordedAt: Date = Date(),
        cpuUsagePercent: Double? = nil,
        memoryUsagePercent: Double? = nil,
        diskUsagePercent: Double? = nil,
        temperature: Double? = nil,
        uptimeSeconds: Int? = nil,
        extra: JSONValue? = nil
    ) {
        self.id = id
        self.computeMachineId = computeMachineId
        self.cloudBoxId = cloudBoxId
        self.recordedAt = recordedAt
        self.cpuUsagePercent = cpuUsagePercent
        self.memoryUsagePercent = memoryUsagePercent
        self.diskUsagePercent = diskUsagePercent
        self.temperature = temperature
        self.uptimeSeconds = uptimeSeconds
        self.extra = extra
    }
}
