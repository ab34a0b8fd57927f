#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A bootable disk image (OS base, application layer or custom). UNIQUE(tenantId, name).
public struct Image: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var imageType: ImageType
    public var baseOs: String?
    public var osVersion: String?
    public var architecture: String?
    /// Decimal in the seed.
    public var sizeGb: Double?
    public var minCpuCores: Int?
    public var minMemoryGb: Int?
    public var minStorageGb: Int?
    public var recommendedCpuCores: Int?
    public var recommendedMemoryGb: Int?
    public var visibility: ImageVisibility
    public var status: ImageStatus
    public var fileServerId: UUID?
    public var filePath: String?
    public var checksumMd5: String?
    public var ownerId: UUID
    public var tenantId: UUID?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        imageType: ImageType,
        baseOs: String? = nil,
        osVersion: String? = nil,
        architecture: String? = nil,
        sizeGb: Double? = nil,
        minCpuCores: Int? = nil,
        minMemoryGb: Int? = nil,
        minStorageGb: Int? = nil,
        recommendedCpuCores: Int? = nil,
        recommendedMemoryGb: Int? = nil,
        visibility: ImageVisibility,
        status: ImageStatus = .active,
        fileServerId: UUID? = nil,
        filePath: String? = nil,
        checksumMd5: String? = nil,
        ownerId: UUID,
        tenantId: UUID? = nil,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.imageType = imageType
        self.baseOs = baseOs
        self.osVersion = osVersion
        self.architecture = architecture
        self.sizeGb = sizeGb
        self.minCpuCores = minCpuCores
        self.minMemoryGb = minMemoryGb
        self.minStorageGb = minStorageGb
        self.recommendedCpuCores = recommendedCpuCores
        self.recommendedMemoryGb = recommendedMemoryGb
        self.visibility = visibility
        self.status = status
        self.fileServerId = fileServerId
        self.filePath = filePath
        self.checksumMd5 = checksumMd5
        self.ownerId = ownerId
        self.tenantId = tenantId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Kind of image.
public enum ImageType: String, ZedgeEnum {
    case osBase = "OS_BASE"
    case applicationLayer = "APPLICATION_LAYER"
    case custom = "CUSTOM"
}

/// Who can see an image.
public enum ImageVisibility: String, ZedgeEnum {
    case `public` = "PUBLIC"
    case `private` = "PRIVATE"
    case groupSpecific = "GROUP_SPECIFIC"
}

/// Lifecycle of an image.
public enum ImageStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case deprecated = "DEPRECATED"
    case archived = "ARCHIVED"
}
