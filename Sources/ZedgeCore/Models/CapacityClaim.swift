#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The room one instance holds on one compute machine (DESIGN §5). Taken with a conditional UPDATE of the
/// machine's allocated counters in the same transaction that writes this row; released once, by setting
/// `releasedAt` conditionally, so a release asked for twice gives the room back once.
///
/// Not in the seed: the seed keeps only the counters; this row is what the consistency check sums.
public struct CapacityClaim: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var instanceId: UUID
    public var computeMachineId: UUID
    public var resourcePoolId: UUID
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int
    public var createdAt: Date
    public var releasedAt: Date?

    public init(
        id: UUID = .v7(), instanceId: UUID, computeMachineId: UUID, resourcePoolId: UUID, amounts: ClaimAmounts,
        createdAt: Date = Date(), releasedAt: Date? = nil
    ) {
        self.id = id
        self.instanceId = instanceId
        self.computeMachineId = computeMachineId
        self.resourcePoolId = resourcePoolId
        self.cpuCores = amounts.cpuCores
        self.memoryGb = amounts.memoryGb
        self.storageGb = amounts.storageGb
        self.gpuCount = amounts.gpuCount
        self.createdAt = createdAt
        self.releasedAt = releasedAt
    }

    public var amounts: ClaimAmounts {
        ClaimAmounts(cpuCores: cpuCores, memoryGb: memoryGb, storageGb: storageGb, gpuCount: gpuCount)
    }
}
