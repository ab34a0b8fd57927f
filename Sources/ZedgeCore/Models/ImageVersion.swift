#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One version of an image's file. UNIQUE(imageId, versionNumber); exactly one `isLatest` and at most one
/// `isDefault` per image.
///
/// The file is uploaded once (`PUT …/versions/{id}/file`); until then `checksumSha256`, `sizeBytes`,
/// `virtualSizeBytes` and `diskFormat` are nil and the version cannot make instances. `checksumMd5` is the
/// seed's field and is kept for clients that compare it; `checksumSha256` is what agents verify before they
/// use a downloaded file (and the file's name in the image store).
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
    /// The file's SHA-256, 64 lowercase hex digits (not in the seed).
    public var checksumSha256: String?
    /// The file's size in bytes (not in the seed).
    public var sizeBytes: Int64?
    /// The guest-visible disk size in bytes: the qcow2 header's size, or the file size for raw (not in the seed).
    public var virtualSizeBytes: Int64?
    /// qcow2 or raw, read from the file itself, never from the client (not in the seed).
    public var diskFormat: DiskFormat?
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
        checksumSha256: String? = nil,
        sizeBytes: Int64? = nil,
        virtualSizeBytes: Int64? = nil,
        diskFormat: DiskFormat? = nil,
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
        self.checksumSha256 = checksumSha256
        self.sizeBytes = sizeBytes
        self.virtualSizeBytes = virtualSizeBytes
        self.diskFormat = diskFormat
        self.releaseNotes = releaseNotes
        self.status = status
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}

extension ImageVersion {
    /// Whether the version's file has been uploaded.
    public var hasFile: Bool { checksumSha256 != nil }

    /// What agents fetch and verify for this version; nil until its file is uploaded.
    public var imageRef: ImageRef? {
        guard let checksumSha256, let sizeBytes, let virtualSizeBytes, let diskFormat else { return nil }
        return ImageRef(imageId: imageId, versionId: id, sha256: checksumSha256, sizeBytes: sizeBytes,
                        virtualSizeBytes: virtualSizeBytes, format: diskFormat)
    }
}

/// Lifecycle of an image version.
public enum ImageVersionStatus: String, ZedgeEnum {
    case active = "ACTIVE"
    case deprecated = "DEPRECATED"
    case archived = "ARCHIVED"
}
