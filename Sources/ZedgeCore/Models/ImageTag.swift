#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A named pointer (e.g. "stable") from an image to one of its versions. UNIQUE(imageId, tagName).
public struct ImageTag: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var imageId: UUID
    public var versionId: UUID
    public var tagName: String
    public var isImmutable: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID = .v7(),
        imageId: UUID,
        versionId: UUID,
        tagName: String,
        isImmutable: Bool = false,
        createdAt: Date = Date(),
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.imageId = imageId
        self.versionId = versionId
        self.tagName = tagName
        self.isImmutable = isImmutable
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
