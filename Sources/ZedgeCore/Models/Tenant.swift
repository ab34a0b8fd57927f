#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An isolated customer organisation: owns users, groups, instances, networks, images and disks.
public struct Tenant: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    /// UNIQUE.
    public var name: String
    public var description: String?
    public var status: TenantStatus
    /// Optional in Zedge (the seed has it required): a tenant exists before its first TENANT_ADMIN.
    public var adminUserId: UUID?
    /// UNIQUE when set.
    public var vlanId: Int?
    public var quotaConfig: QuotaConfig?
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: UUID?

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        status: TenantStatus,
        adminUserId: UUID? = nil,
        vlanId: Int? = nil,
        quotaConfig: QuotaConfig? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date(),
        createdBy: UUID? = nil
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.status = status
        self.adminUserId = adminUserId
        self.vlanId = vlanId
        self.quotaConfig = quotaConfig
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
    }
}

/// Lifecycle of a tenant.
public enum TenantStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case inactive = "INACTIVE"
    case suspended = "SUSPENDED"
}
