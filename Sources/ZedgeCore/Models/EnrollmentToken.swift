#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A counted, expiring token that lets an agent register in one edge data center. No hash field: the
/// hash lives only in the coordinator's store.
public struct EnrollmentToken: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var edgeDataCenterId: UUID
    public var resourcePoolId: UUID?
    public var kind: EnrollmentKind
    public var prefix: String
    public var usesLeft: Int
    public var usesTotal: Int
    public var expiresAt: Date
    public var revokedAt: Date?
    public var createdBy: UUID?
    public var createdAt: Date

    public init(
        id: UUID = .v7(),
        edgeDataCenterId: UUID,
        resourcePoolId: UUID? = nil,
        kind: EnrollmentKind,
        prefix: String,
        usesLeft: Int = 1,
        usesTotal: Int = 1,
        expiresAt: Date,
        revokedAt: Date? = nil,
        createdBy: UUID? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.edgeDataCenterId = edgeDataCenterId
        self.resourcePoolId = resourcePoolId
        self.kind = kind
        self.prefix = prefix
        self.usesLeft = usesLeft
        self.usesTotal = usesTotal
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// What kind of agent an enrollment token registers.
public enum EnrollmentKind: String, ZedgeEnum {
    case computeMachine = "COMPUTE_MACHINE"
    case cloudBox = "CLOUD_BOX"
}
