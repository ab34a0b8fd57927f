#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The credential an agent received at registration; names exactly one machine or CloudBox. No hash
/// field: the hash lives only in the coordinator's store.
public struct AgentCredential: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var computeMachineId: UUID?
    public var cloudBoxId: UUID?
    public var prefix: String
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        computeMachineId: UUID? = nil,
        cloudBoxId: UUID? = nil,
        prefix: String,
        lastUsedAt: Date? = nil,
        revokedAt: Date? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.computeMachineId = computeMachineId
        self.cloudBoxId = cloudBoxId
        self.prefix = prefix
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
    }
}
