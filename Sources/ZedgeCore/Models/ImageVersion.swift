import Foundation

/// One version of an image's file. UNIQUE(imageId, versionNumber).
public struct ImageVersion: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var imageId: UUID
    public var versionNumber: String
    public var versionName: String?
    public var isLatest: Bool
    public var isDefault: Bool
    public var parentVersionId: UUID?
    /// Decimal in the seed.
    public var sizeGb: Double?
    public var filePath: String?
    public var checksumMd5: String?
    public var releaseNotes: String?
    public var status: ImageVersionStatus
    public var createdAt: Date
    public var createdBy: UUID

    public init(
        id: UUID = .v7(),
        imageId: UUID,
        versionNumber: String,
        versionName: String? = nil,
        isLatest: Bool = false,
        isDefault: Bool = false,
        parentVersionId: UUID? = nil,
        sizeGb: Double? = nil,
        filePath: String? = nil,
        checksumMd5: String? = nil,
        releaseNotes: String? = nil,
        status: ImageVersionStatus = .active,
        createdAt: Date = Date(),
        createdBy: UUID
    ) {
        self.id = id
        self.imageId = imageId
        self.versionNumber = versionNumber
        self.versionName = versionName
        self.isLatest = isLatest
        self.isDefault = isDefault
        self.parentVersionId = parentVersionId
        self.sizeGb = sizeGb
        self.filePath = filePath
        self.checksumMd5 = checksumMd5
        self.releaseNotes = releaseNotes
        self.status = status
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}

/// Lifecycle of an image version.
public enum ImageVersionStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case deprecated = "DEPRECATED"
    case archived = "ARCHIVED"
}
