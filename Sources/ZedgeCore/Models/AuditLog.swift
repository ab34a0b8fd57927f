#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A record of one mutation, allowed or refused (DESIGN §3).
public struct AuditLog: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    /// Optional in Zedge (the seed has it required): refused attempts by unknown or unauthenticated callers
    /// are audited too, and rows outlive deleted users.
    public var userId: UUID?
    /// The acting user's tenant (a Zedge addition), so a TENANT_ADMIN can read its tenant's log.
    public var tenantId: UUID?
    /// E.g. "instance.create".
    public var action: String
    public var resourceType: String
    public var resourceId: UUID?
    public var details: JSONValue?
    public var ipAddress: String?
    public var userAgent: String?
    /// A String in the seed; Zedge restricts it to `AuditStatus`.
    public var status: AuditStatus
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        userId: UUID?,
        tenantId: UUID? = nil,
        action: String,
        resourceType: String,
        resourceId: UUID? = nil,
        details: JSONValue? = nil,
        ipAddress: String? = nil,
        userAgent: String? = nil,
        status: AuditStatus,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.userId = userId
        self.tenantId = tenantId
        self.action = action
        self.resourceType = resourceType
        self.resourceId = resourceId
        self.details = details
        self.ipAddress = ipAddress
        self.userAgent = userAgent
        self.status = status
        self.createdAt = createdAt
    }
}

/// Outcome of an audited request.
public enum AuditStatus: String, ZedgeEnum {
    case success = "SUCCESS"
    case denied = "DENIED"
    case failed = "FAILED"
}
