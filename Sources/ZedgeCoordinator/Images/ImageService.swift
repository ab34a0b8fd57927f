import Foundation
import Logging
import NIOCore
import ZedgeCore

/// Images' versions, tags and files, and choosing the version an instance boots from (DESIGN §10).
///
/// Rules it holds:
/// - a new version becomes the image's only `isLatest`, and at most one version `isDefault`: both flags
///   move inside one transaction that holds the image's row, so concurrent publishes on PostgreSQL leave
///   exactly one latest (partial unique indexes back this up); deleting the latest makes the newest
///   remaining version latest;
/// - `parentVersionId` names a version of the same image;
/// - an immutable tag is never moved or deleted (409), and its version cannot be deleted under it;
/// - a version gets its file once (409 for a second upload); the file is checked, hashed and stored by
///   `ImageStore`, then recorded and placed under the file's lock, so that a concurrent delete of another
///   version with the same bytes cannot remove it;
/// - an agent may download only the versions that a task leased to it names.
public struct ImageService: Sendable {
    let images: any ImageRepository
    let tasks: any TaskRepository
    let transactions: Transactions
    let store: any ImageStore
    public let access: ImageAccess
    /// The largest file an upload may carry, in bytes.
    public let maxUploadBytes: Int64
    let logger: Logger

    public init(
        images: any ImageRepository, tasks: any TaskRepository, transactions: Transactions, store: any ImageStore,
        access: ImageAccess, maxUploadBytes: Int64, logger: Logger
    ) {
        self.images = images
        self.tasks = tasks
        self.transactions = transactions
        self.store = store
        self.access = access
        self.maxUploadBytes = maxUploadBytes
        self.logger = logger
    }

    // MARK: - Images

    /// Deletes an image with its versions, tags and grants, then the files no other version uses. Refused
    /// (409) while templates name it as their `baseImageId`.
    public func deleteImage(_ imageId: UUID) async throws {
        let templates = try await images.templateCount(baseImageId: imageId)
        guard templates == 0 else {
            throw ConstraintViolation.stillReferenced(
                resource: "image", by: [.init("template", count: templates, field: "templates.baseImageId")],
                hint: "set its status to DEPRECATED or ARCHIVED instead")
        }
        let images = self.images
        let files = try await transactions.run { tx -> [String] in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            try await Self.refuseWhileInstancesUse(images, imageId: imageId, versionId: nil, resource: "image", in: tx)
            let files = try await images.allVersions(of: imageId, in: tx).compactMap(\.checksumSha256)
            guard try await images.delete(imageId, in: tx) else { throw DomainError.notFound("Image") }
            return files
        }
        await collect(files)
    }

    // MARK: - Versions

    /// What a new version says (`POST /images/{id}/versions`).
    public struct NewVersion: Sendable {
        public var versionNumber: String
        public var versionName: String?
        public var releaseNotes: String?
        public var parentVersionId: UUID?
        public var isDefault: Bool

        public init(versionNumber: String, versionName: String? = nil, releaseNotes: String? = nil, parentVersionId: UUID? = nil,
                    isDefault: Bool = false) {
            self.versionNumber = versionNumber
            self.versionName = versionName
            self.releaseNotes = releaseNotes
            self.parentVersionId = parentVersionId
            self.isDefault = isDefault
        }
    }

    /// Adds a version (no file yet) that becomes the image's latest, and its default when `isDefault`.
    /// 404 when the image is gone; 400 naming `parentVersionId` when that names no version of this image;
    /// 409 naming `versionNumber` when the image has that version already.
    public func publish(_ new: NewVersion, on imageId: UUID, by userId: UUID) async throws -> ImageVersion {
        let images = self.images
        return try await transactions.run { tx in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            if let parent = new.parentVersionId {
                guard let version = try await images.version(parent, in: tx), version.imageId == imageId else {
                    throw DomainError.invalid(field: "parentVersionId", "must name a version of this image")
                }
            }
            try await images.clearFlag(latest: true, of: imageId, in: tx)
            if new.isDefault { try await images.clearFlag(latest: false, of: imageId, in: tx) }
            let version = ImageVersion(
                imageId: imageId, versionNumber: new.versionNumber, versionName: new.versionName, isLatest: true,
                isDefault: new.isDefault, parentVersionId: new.parentVersionId, releaseNotes: new.releaseNotes, createdBy: userId)
            try await images.insert(version, in: tx)
            return version
        }
    }

    /// What a version change may say (`PATCH …/versions/{versionId}`); nil leaves a field as it is, and
    /// `.some(nil)` clears an optional one.
    public struct VersionChange: Sendable {
        public var status: ImageVersionStatus?
        public var isDefault: Bool?
        public var versionName: String??
        public var releaseNotes: String??

        public init(status: ImageVersionStatus? = nil, isDefault: Bool? = nil, versionName: String?? = nil, releaseNotes: String?? = nil) {
            self.status = status
            self.isDefault = isDefault
            self.versionName = versionName
            self.releaseNotes = releaseNotes
        }
    }

    /// Changes a version's status, default flag (the previous default is cleared), name or notes.
    public func change(_ versionId: UUID, of imageId: UUID, _ change: VersionChange) async throws -> ImageVersion {
        let images = self.images
        return try await transactions.run { tx in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            guard var version = try await images.version(versionId, in: tx), version.imageId == imageId else {
                throw DomainError.notFound("Image version")
            }
            if let isDefault = change.isDefault {
                if isDefault, !version.isDefault { try await images.clearFlag(latest: false, of: imageId, in: tx) }
                version.isDefault = isDefault
            }
            if let status = change.status { version.status = status }
            if let name = change.versionName { version.versionName = name }
            if let notes = change.releaseNotes { version.releaseNotes = notes }
            try await images.update(version, in: tx)
            return version
        }
    }

    /// Deletes a version (its tags go with it) and then its file if no other version uses it; the newest
    /// remaining version becomes latest when it was. 409 while an immutable tag names it.
    public func deleteVersion(_ versionId: UUID, of imageId: UUID) async throws {
        let images = self.images
        let file = try await transactions.run { tx -> String? in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            guard let version = try await images.version(versionId, in: tx), version.imageId == imageId else {
                throw DomainError.notFound("Image version")
            }
            try await Self.refuseWhileInstancesUse(images, imageId: imageId, versionId: versionId, resource: "image version", in: tx)
            let immutable = try await images.tags(ofVersion: versionId, in: tx).filter(\.isImmutable)
            guard immutable.isEmpty else {
                throw ConstraintViolation.stillReferenced(
                    resource: "image version", by: [.init("immutable tag", count: immutable.count, field: "imageTags.versionId")],
                    hint: "an immutable tag cannot be moved or deleted")
            }
            try await images.deleteVersion(versionId, in: tx)
            if version.isLatest, var newest = try await images.allVersions(of: imageId, in: tx).first {
                newest.isLatest = true
                try await images.update(newest, in: tx)
            }
            return version.checksumSha256
        }
        if let file { await collect([file]) }
    }

    /// 409 while instances that are not DELETED were made from the image (version): a re-create or an
    /// evacuation rebuilds them from exactly those bits.
    static func refuseWhileInstancesUse(_ images: any ImageRepository, imageId: UUID, versionId: UUID?, resource: String,
                                        in tx: Transaction) async throws {
        let live = try await images.liveInstanceCount(imageId: imageId, versionId: versionId, in: tx)
        guard live == 0 else {
            throw ConstraintViolation.stillReferenced(
                resource: resource, by: [.init("instance", count: live, field: "instances.config.image")],
                hint: "they rebuild from it, so delete them first (DEPRECATED or ARCHIVED only stops new instances)")
        }
    }

    // MARK: - Tags

    /// Adds a tag pointing at a version of the image. 400 naming `versionId` when that is no version of
    /// this image; 409 naming `tagName` when the image has that tag already.
    public func createTag(_ tagName: String, on imageId: UUID, versionId: UUID, isImmutable: Bool) async throws -> ImageTag {
        let images = self.images
        return try await transactions.run { tx in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            guard let version = try await images.version(versionId, in: tx), version.imageId == imageId else {
                throw DomainError.invalid(field: "versionId", "must name a version of this image")
            }
            let tag = ImageTag(imageId: imageId, versionId: version.id, tagName: tagName, isImmutable: isImmutable)
            try await images.insert(tag, in: tx)
            return tag
        }
    }

    /// Moves a tag to another version of the image and/or makes it immutable. 409 naming `tagName` for an
    /// immutable tag that would move or become mutable again.
    public func changeTag(_ tagName: String, on imageId: UUID, versionId: UUID?, isImmutable: Bool?) async throws -> ImageTag {
        let images = self.images
        return try await transactions.run { tx in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            guard var tag = try await images.tag(of: imageId, named: tagName, in: tx) else { throw DomainError.notFound("Image tag") }
            let moves = versionId.map { $0 != tag.versionId } ?? false
            if tag.isImmutable, moves || isImmutable == false {
                throw Self.immutable(tag)
            }
            if let versionId {
                guard let version = try await images.version(versionId, in: tx), version.imageId == imageId else {
                    throw DomainError.invalid(field: "versionId", "must name a version of this image")
                }
                tag.versionId = version.id
            }
            if let isImmutable { tag.isImmutable = isImmutable }
            tag.updatedAt = Date()
            try await images.update(tag, in: tx)
            return tag
        }
    }

    /// Deletes a tag; 409 naming `tagName` when it is immutable.
    public func deleteTag(_ tagName: String, on imageId: UUID) async throws {
        let images = self.images
        try await transactions.run { tx in
            guard try await images.lock(imageId, in: tx) != nil else { throw DomainError.notFound("Image") }
            guard let tag = try await images.tag(of: imageId, named: tagName, in: tx) else { throw DomainError.notFound("Image tag") }
            guard !tag.isImmutable else { throw Self.immutable(tag) }
            try await images.deleteTag(tag.id, in: tx)
        }
    }

    static func immutable(_ tag: ImageTag) -> DomainError {
        DomainError.conflict("Tag '\(tag.tagName)' is immutable: it cannot be moved or deleted.", field: "tagName")
    }

    // MARK: - Files

    /// Receives a version's file from `chunks` (never all in memory), checks it, and records its SHA-256,
    /// MD5, size, virtual size and format. 404 when the version is not the image's; 409 naming `file` when
    /// the version has a file already (also when a concurrent upload won); 413 over `maxUploadBytes`
    /// (`declaredBytes`, the Content-Length, is checked before reading); 400 naming `file` for a refused
    /// format. Nothing is left behind when it throws.
    public func upload<Chunks: AsyncSequence>(
        to versionId: UUID, of imageId: UUID, declaredBytes: Int64?, _ chunks: Chunks
    ) async throws -> ImageVersion where Chunks.Element == ByteBuffer {
        guard let version = try await images.version(versionId, in: nil), version.imageId == imageId else {
            throw DomainError.notFound("Image version")
        }
        guard !version.hasFile else { throw Self.hasFile(version) }
        if let declaredBytes, declaredBytes > maxUploadBytes { throw Self.tooLarge(maxUploadBytes) }
        let received = try await store.receive(chunks, maxBytes: maxUploadBytes)
        let images = self.images, store = self.store
        do {
            return try await transactions.run { tx in
                try await images.lockFile(sha256: received.sha256, in: tx)
                guard var version = try await images.lockVersion(versionId, in: tx), version.imageId == imageId else {
                    throw DomainError.notFound("Image version")
                }
                guard !version.hasFile else { throw Self.hasFile(version) }
                version.checksumSha256 = received.sha256
                version.checksumMd5 = received.md5
                version.sizeBytes = received.sizeBytes
                version.virtualSizeBytes = received.inspection.virtualSizeBytes
                version.diskFormat = received.inspection.format
                version.sizeGb = (Double(received.sizeBytes) / Double(1 << 30) * 1000).rounded(.up) / 1000
                try await images.update(version, in: tx)
                // Last before commit: a failure after this leaves at worst an unused file, never a version
                // whose file is missing.
                try await store.place(received)
                return version
            }
        } catch {
            await store.discard(received)
            throw error
        }
    }

    static func hasFile(_ version: ImageVersion) -> DomainError {
        DomainError.conflict("Image version \(version.versionNumber) has its file already; publish a new version for new bits.",
                             field: "file")
    }

    static func tooLarge(_ limit: Int64) -> DomainError {
        DomainError(.tooLarge, "The image file is larger than the limit of \(limit) bytes.",
                    errors: [FieldError(field: "file", message: "must be at most \(limit) bytes")])
    }

    /// The stored file's bytes `range` (inclusive), handed to `body` in chunks.
    public func read(_ version: ImageVersion, range: ClosedRange<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws {
        guard let sha256 = version.checksumSha256 else { throw DomainError.notFound("Image file") }
        try await store.read(sha256: sha256, range: range, body)
    }

    /// A version `principal` may download: the image is visible to it and the version has a file; nil
    /// otherwise (a 404).
    public func downloadable(_ versionId: UUID, of image: Image) async throws -> ImageVersion? {
        guard let version = try await images.version(versionId, in: nil), version.imageId == image.id, version.hasFile else {
            return nil
        }
        return version
    }

    /// The version an agent may download: one named by a task leased to its host (`image.fetch`'s
    /// `image.versionId`, or `vm.create`'s `spec.rootImage.image.versionId`) that has a file; nil otherwise
    /// (a 404, whether or not the version exists).
    public func downloadable(_ versionId: UUID, by agent: AgentPrincipal) async throws -> ImageVersion? {
        let leased = try await tasks.leased(computeMachineId: agent.computeMachineId, cloudBoxId: agent.cloudBoxId,
                                            kinds: [.imageFetch, .vmCreate])
        guard leased.contains(where: { Self.names($0, versionId) }),
              let version = try await images.version(versionId, in: nil), version.hasFile else { return nil }
        return version
    }

    /// Whether the task's payload names the version as the image to fetch or boot from.
    static func names(_ task: AgentTask, _ versionId: UUID) -> Bool {
        let image: JSONValue? = switch task.kind {
        case .imageFetch: task.payload["image"]
        case .vmCreate: task.payload["spec"]?["rootImage"]?["image"]
        default: nil
        }
        return image?["versionId"]?.stringValue.flatMap(UUID.init(uuidString:)) == versionId
    }

    /// Removes each file that no version names any more, each under its lock (failures are logged: the
    /// delete that freed them has happened).
    func collect(_ files: [String]) async {
        let images = self.images, store = self.store
        for sha256 in Set(files) {
            do {
                try await transactions.run { tx in
                    try await images.lockFile(sha256: sha256, in: tx)
                    if try await images.versionCount(sha256: sha256, in: tx) == 0 { try await store.remove(sha256: sha256) }
                }
            } catch {
                logger.error("image file not removed", metadata: ["sha256": "\(sha256)", "error": "\(String(reflecting: error))"])
            }
        }
    }

    // MARK: - Use

    /// An image version chosen for an instance, with what the agent fetches.
    public struct ResolvedImage: Sendable, Hashable {
        public var image: Image
        public var version: ImageVersion
        public var ref: ImageRef
    }

    /// The image and version an instance boots from: `imageVersion` (a `versionNumber`) or `imageTag` when
    /// given, else the image's default version, else its latest.
    ///
    /// - 404 for an image `principal` may not see (or that does not exist);
    /// - 409 naming the status for a DEPRECATED or ARCHIVED image (field `imageId`) or version (field
    ///   `imageVersion`/`imageTag`);
    /// - 400 naming `imageVersion`/`imageTag` for a version or tag the image lacks, both given, or a version
    ///   that has no file yet (`imageVersion` when neither was given);
    /// - 400 naming `cpuCores`, `memoryGb` or `storageGb` when the instance is smaller than the image's
    ///   `minCpuCores`, `minMemoryGb`, `minStorageGb`, or its disk (GiB) smaller than the image's virtual size.
    public func resolveForInstance(
        imageId: UUID, imageVersion: String?, imageTag: String?, principal: Principal,
        cpuCores: Int, memoryGb: Int, storageGb: Int
    ) async throws -> ResolvedImage {
        guard let image = try await access.visible(imageId, to: principal) else { throw DomainError.notFound("Image") }
        guard image.status == .active else {
            throw DomainError.conflict("Image '\(image.name)' is \(image.status.rawValue): it takes no new instances.", field: "imageId")
        }
        if imageVersion != nil, imageTag != nil {
            throw DomainError.invalid(field: "imageTag", "give imageVersion or imageTag, not both")
        }
        let version: ImageVersion
        let field: String
        if let imageVersion {
            field = "imageVersion"
            guard let found = try await images.version(of: imageId, where: [PropertyFilter("versionNumber", .string(imageVersion))], in: nil) else {
                throw DomainError.invalid(field: field, "the image has no version '\(imageVersion)'")
            }
            version = found
        } else if let imageTag {
            field = "imageTag"
            guard let tag = try await images.tag(of: imageId, named: imageTag, in: nil),
                  let found = try await images.version(tag.versionId, in: nil) else {
                throw DomainError.invalid(field: field, "the image has no tag '\(imageTag)'")
            }
            version = found
        } else {
            field = "imageVersion"
            var found = try await images.version(of: imageId, where: [PropertyFilter("isDefault", .bool(true))], in: nil)
            if found == nil { found = try await images.version(of: imageId, where: [PropertyFilter("isLatest", .bool(true))], in: nil) }
            guard let found else { throw DomainError.invalid(field: field, "the image has no version") }
            version = found
        }
        guard version.status == .active else {
            throw DomainError.conflict(
                "Image version \(version.versionNumber) is \(version.status.rawValue): it takes no new instances.", field: field)
        }
        guard let ref = version.imageRef else {
            throw DomainError.invalid(field: field, "image version \(version.versionNumber) has no file yet; upload it first")
        }
        var errors: [FieldError] = []
        if let minimum = image.minCpuCores, cpuCores < minimum {
            errors.append(FieldError(field: "cpuCores", message: "the image needs at least \(minimum) CPU cores"))
        }
        if let minimum = image.minMemoryGb, memoryGb < minimum {
            errors.append(FieldError(field: "memoryGb", message: "the image needs at least \(minimum) GB of memory"))
        }
        // Whole GiB, rounded up, without overflow (the virtual size is at most 64 TiB, but never trust a row).
        let diskGb = Int(ref.virtualSizeBytes >> 30) + (ref.virtualSizeBytes & ((1 << 30) - 1) == 0 ? 0 : 1)
        let neededGb = max(image.minStorageGb ?? 0, diskGb)
        if storageGb < neededGb {
            errors.append(FieldError(field: "storageGb", message: "the image needs at least \(neededGb) GB of storage"
                                     + (diskGb == neededGb ? " (its virtual disk size)" : "")))
        }
        guard errors.isEmpty else { throw DomainError.invalid(errors) }
        return ResolvedImage(image: image, version: version, ref: ref)
    }

    /// Refuses (400 naming `field`) an image id that `principal` may not use for a template: one it cannot
    /// see, or that is not ACTIVE.
    public func checkUsable(_ imageId: UUID, by principal: Principal, field: String) async throws {
        guard let image = try await access.visible(imageId, to: principal) else {
            throw DomainError.invalid(field: field, "no such image")
        }
        guard image.status == .active else {
            throw DomainError.invalid(field: field, "the image is \(image.status.rawValue): it takes no new templates")
        }
    }
}
