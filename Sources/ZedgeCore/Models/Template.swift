#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A reusable recipe for instances: default sizes, base image, network config and user data.
/// UNIQUE(tenantId, name).
public struct Template: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var useCase: TemplateUseCase?
    public var templateType: TemplateType
    public var baseImageId: UUID?
    public var defaultCpuCores: Int
    public var defaultMemoryGb: Int
    public var defaultStorageGb: Int
    public var defaultGpuCount: Int
    public var defaultBandwidthGbps: Double?
    public var networkConfig: JSONValue?
    public var userData: String?
    public var tags: JSONValue?
    public var visibility: TemplateVisibility
    public var ownerId: UUID
    public var tenantId: UUID?
    public var version: String
    public var status: TemplateStatus
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        name: String,
        description: String? = nil,
        useCase: TemplateUseCase? = nil,
        templateType: TemplateType = .instance,
        baseImageId: UUID? = nil,
        defaultCpuCores: Int,
        defaultMemoryGb: Int,
        defaultStorageGb: Int,
        defaultGpuCount: Int = 0,
        defaultBandwidthGbps: Double? = nil,
        networkConfig: JSONValue? = nil,
        userData: String? = nil,
        tags: JSONValue? = nil,
        visibility: TemplateVisibility,
        ownerId: UUID,
        tenantId: UUID? = nil,
        version: String = "v1.0.0",
        status: TemplateStatus = .active,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.useCase = useCase
        self.templateType = templateType
        self.baseImageId = baseImageId
        self.defaultCpuCores = defaultCpuCores
        self.defaultMemoryGb = defaultMemoryGb
        self.defaultStorageGb = defaultStorageGb
        self.defaultGpuCount = defaultGpuCount
        self.defaultBandwidthGbps = defaultBandwidthGbps
        self.networkConfig = networkConfig
        self.userData = userData
        self.tags = tags
        self.visibility = visibility
        self.ownerId = ownerId
        self.tenantId = tenantId
        self.version = version
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a template is meant for.
public enum TemplateUseCase: String, ZedgeEnum {
    case aiApplication = "AI_APPLICATION"
    case graphicsRendering = "GRAPHICS_RENDERING"
    case gamingHighPerformance = "GAMING_HIGH_PERFORMANCE"
    case lightweightOffice = "LIGHTWEIGHT_OFFICE"
    case webServer = "WEB_SERVER"
    case database = "DATABASE"
    case development = "DEVELOPMENT"
    case general = "GENERAL"
}

/// Whether a template makes one instance or an instance set.
public enum TemplateType: String, ZedgeEnum {
    case instance = "INSTANCE"
    case instanceSet = "INSTANCE_SET"
}

/// Who can see a template.
public enum TemplateVisibility: String, ZedgeEnum {
    case `public` = "PUBLIC"
    case `private` = "PRIVATE"
    case groupSpecific = "GROUP_SPECIFIC"
}

/// Lifecycle of a template.
public enum TemplateStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case deprecated = "DEPRECATED"
    case archived = "ARCHIVED"
}
