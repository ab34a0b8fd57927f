#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An immutable snapshot of a template's config. UNIQUE(templateId, versionNumber).
public struct TemplateVersion: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var templateId: UUID
    public var versionNumber: String
    public var isLatest: Bool
    public var configSnapshot: JSONValue
    public var changelog: String?
    public var createdAt: Date
    public var createdBy: UUID

    public init(
        id: UUID = .v7(),
        templateId: UUID,
        versionNumber: String,
        isLatest: Bool = false,
        configSnapshot: JSONValue,
        changelog: String? = nil,
        createdAt: Date = Date(),
        createdBy: UUID
    ) {
        self.id = id
        self.templateId = templateId
        self.versionNumber = versionNumber
        self.isLatest = isLatest
        self.configSnapshot = configSnapshot
        self.changelog = changelog
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}
