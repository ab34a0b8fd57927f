#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A hierarchical group of users inside a tenant; carries its own quota. UNIQUE(tenantId, name).
public struct UserGroup: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var tenantId: UUID
    public var parentGroupId: UUID?
    public var quotaConfig: QuotaConfig?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        tenantId: UUID,
        parentGroupId: UUID? = nil,
        quotaConfig: QuotaConfig? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.tenantId = tenantId
        self.parentGroupId = parentGroupId
        self.quotaConfig = quotaConfig
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
