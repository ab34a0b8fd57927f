#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One image version's file as agents fetch, verify and cache it (DESIGN §10): what `image.fetch` and a
/// `vm.create` with a root image carry. The agent downloads it from `downloadPath` with its own credential and
/// keeps it under its SHA-256.
///
/// JSON: `{"imageId":…,"versionId":…,"sha256":"<64 lowercase hex>","sizeBytes":13421772,
/// "virtualSizeBytes":17825792,"format":"qcow2"}`.
public struct ImageRef: Codable, Sendable, Hashable {
    public var imageId: UUID
    public var versionId: UUID
    /// The file's SHA-256, 64 lowercase hex digits: what the agent verifies before it uses the file.
    public var sha256: String
    /// The file's size in bytes.
    public var sizeBytes: Int64
    /// The guest-visible size in bytes: the qcow2 header's `size`, or the file size for raw.
    public var virtualSizeBytes: Int64
    /// qcow2 or raw (nothing else is accepted on upload).
    public var format: DiskFormat

    /// The largest virtual size an image may have: 64 TiB, the largest root disk (`storageGb` ≤ 65,536 GiB).
    /// It also keeps every byte count exact in JSON (below 2^53).
    public static let maximumVirtualSizeBytes: Int64 = 65_536 << 30

    public init(imageId: UUID, versionId: UUID, sha256: String, sizeBytes: Int64, virtualSizeBytes: Int64, format: DiskFormat) {
        self.imageId = imageId
        self.versionId = versionId
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.virtualSizeBytes = virtualSizeBytes
        self.format = format
    }

    /// Where an agent downloads a version's file on its coordinator (`GET`, with `Range`): only a version that
    /// a task leased to that agent names; any other is a 404.
    public static func downloadPath(versionId: UUID) -> String {
        "/agent/v1/image-versions/\(versionId.uuidString.lowercased())/file"
    }

    public var downloadPath: String { Self.downloadPath(versionId: versionId) }

    /// True for 64 lowercase hex digits.
    public static func isSHA256Hex(_ s: String) -> Bool {
        let b = Array(s.utf8)
        return b.count == 64 && b.allSatisfy { isDigit($0) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Problems with the reference, fields prefixed with `field` ("image", "spec.rootImage.image").
    public func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if !Self.isSHA256Hex(sha256) {
            errors.append(FieldError(field: "\(field).sha256", message: "must be 64 lowercase hexadecimal digits"))
        }
        if sizeBytes <= 0 || sizeBytes >= 1 << 53 { errors.append(FieldError(field: "\(field).sizeBytes", message: "must be from 1 byte to 2^53")) }
        if virtualSizeBytes <= 0 || virtualSizeBytes > Self.maximumVirtualSizeBytes {
            errors.append(FieldError(field: "\(field).virtualSizeBytes", message: "must be from 1 byte to 64 TiB"))
        }
        return errors
    }
}

/// A root disk made from an image: a qcow2 overlay whose backing store is the cached image file, created by
/// the agent through libvirt's storage API (`virStorageVolCreateXML` with `<backingStore>`).
public struct RootImageSpec: Codable, Sendable, Hashable {
    public var image: ImageRef
    /// The overlay's virtual size in GiB (the instance's `storageGb`); never below the image's virtual size.
    public var sizeGb: Int

    public init(image: ImageRef, sizeGb: Int) {
        self.image = image
        self.sizeGb = sizeGb
    }

    public static let sizeGbRange = 1...65_536

    /// The overlay's capacity in bytes: `sizeGb` GiB, or the image's virtual size if that is larger.
    public var capacityBytes: Int64 { max(Int64(sizeGb) << 30, image.virtualSizeBytes) }

    public func validate(field: String) -> [FieldError] {
        var errors = image.validate(field: "\(field).image")
        if let e = Validate.size(sizeGb, field: "\(field).sizeGb", in: Self.sizeGbRange) { errors.append(e) }
        return errors
    }
}
