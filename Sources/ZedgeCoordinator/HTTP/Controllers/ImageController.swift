import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/images`, its `/{id}/versions` (with each version's `/file`) and `/{id}/tags` (DESIGN §10).
///
/// Visibility, enforced on read, list and use exactly as for templates (`ImageAccess`): PUBLIC images are
/// everyone's; a PRIVATE one is its owner's and its tenant's TENANT_ADMINs'; a GROUP_SPECIFIC one also
/// belongs to the members of the groups it names (`groupIds`). ADMIN sees all. What the caller cannot see is a
/// 404; what it sees but does not manage is a 403. A version's file is uploaded once, streamed to the image
/// store (`PUT …/file`, any content type, the raw bytes) and downloaded with `GET`/`HEAD` (Range supported).
public struct ImageController: Sendable {
    let tenants: any ModelRepository<Tenant>
    let userGroups: any ModelRepository<UserGroup>
    let images: any ImageRepository
    let service: ImageService
    let prefetch: ImagePrefetch
    let authorizer: Authorizer
    var access: ImageAccess { service.access }

    public init(tenants: any ModelRepository<Tenant>, userGroups: any ModelRepository<UserGroup>, images: any ImageRepository,
                service: ImageService, prefetch: ImagePrefetch, authorizer: Authorizer) {
        self.tenants = tenants
        self.userGroups = userGroups
        self.images = images
        self.service = service
        self.prefetch = prefetch
        self.authorizer = authorizer
    }

    /// `POST …/versions/{versionId}/actions/prefetch`: exactly one of the two.
    struct PrefetchBody: RequestBody, Encodable {
        var edgeDataCenterId: UUID?
        var computeMachineIds: [UUID]?
        static var fieldRules: [String: FieldRule] { ["computeMachineIds": .items(1...ImagePrefetch.maximumMachines)] }
        func validate() -> [FieldError] {
            switch (edgeDataCenterId, computeMachineIds) {
            case (nil, nil):
                [FieldError(field: "edgeDataCenterId", message: "give edgeDataCenterId or computeMachineIds")]
            case (.some, .some):
                [FieldError(field: "computeMachineIds", message: "give edgeDataCenterId or computeMachineIds, not both")]
            default:
                []
            }
        }
    }

    static let list = ListSpec(filters: [
        "status": .of(ImageStatus.self), "visibility": .of(ImageVisibility.self), "imageType": .of(ImageType.self),
        "tenantId": .uuid, "name": .string, "baseOs": .string, "architecture": .string,
    ])
    static let versionList = ListSpec(filters: [
        "status": .of(ImageVersionStatus.self), "isLatest": .bool, "isDefault": .bool, "versionNumber": .string,
    ])
    static let tagList = ListSpec(filters: ["versionId": .uuid, "isImmutable": .bool, "tagName": .string])

    static let cpuRange = 1...512, memoryRange = 1...4096, storageRange = 1...65536

    /// The rules of an image's fields, in create and PATCH alike: labels are names, sizes within a machine's.
    static let rules: [String: FieldRule] = [
        "name": .name, "description": .description(), "baseOs": .name, "osVersion": .name, "architecture": .name,
        "minCpuCores": .integer(cpuRange), "minMemoryGb": .integer(memoryRange), "minStorageGb": .integer(storageRange),
        "recommendedCpuCores": .integer(cpuRange), "recommendedMemoryGb": .integer(memoryRange),
    ]

    /// A recommended size below the image's minimum is a contradiction: each recommended one must be at least its
    /// minimum (checked on create, and on PATCH against the image as it would become). 422 naming the recommended field.
    static func sizeErrors(minCpuCores: Int?, recommendedCpuCores: Int?, minMemoryGb: Int?, recommendedMemoryGb: Int?) -> [FieldError] {
        var errors: [FieldError] = []
        if let minimum = minCpuCores, let recommended = recommendedCpuCores, recommended < minimum {
            errors.append(FieldError(field: "recommendedCpuCores", message: "must be at least minCpuCores (\(minimum))"))
        }
        if let minimum = minMemoryGb, let recommended = recommendedMemoryGb, recommended < minimum {
            errors.append(FieldError(field: "recommendedMemoryGb", message: "must be at least minMemoryGb (\(minimum))"))
        }
        return errors
    }

    /// The rules of a version's fields, in create and PATCH alike.
    static let versionRules: [String: FieldRule] = [
        "versionNumber": TemplateController.versionRule, "versionName": .displayText(maxLength: 128),
        "releaseNotes": .description(maxLength: 4096),
    ]

    /// `tagName` (`checkTagName`).
    static let tagNameRule = FieldRule.string(
        ["minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_][A-Za-z0-9._-]*$"], { name, field in checkTagName(name, field: field) })

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var imageType: ImageType
        var baseOs: String?
        var osVersion: String?
        var architecture: String?
        var minCpuCores: Int?
        var minMemoryGb: Int?
        var minStorageGb: Int?
        var recommendedCpuCores: Int?
        var recommendedMemoryGb: Int?
        var visibility: ImageVisibility
        var tenantId: UUID?
        var groupIds: [UUID]?
        static var immutableFields: Set<String> { ["ownerId", "status", "sizeGb", "fileServerId", "filePath", "checksumMd5"] }
        static var fieldRules: [String: FieldRule] { ImageController.rules }

        func validate() -> [FieldError] {
            var errors: [FieldError] = []
            if visibility == .groupSpecific, (groupIds ?? []).isEmpty {
                errors.append(FieldError(field: "groupIds", message: "must name at least one group for GROUP_SPECIFIC visibility"))
            }
            if visibility != .groupSpecific, !(groupIds ?? []).isEmpty {
                errors.append(FieldError(field: "groupIds", message: "only GROUP_SPECIFIC images name groups"))
            }
            return errors + ImageController.sizeErrors(minCpuCores: minCpuCores, recommendedCpuCores: recommendedCpuCores,
                                                       minMemoryGb: minMemoryGb, recommendedMemoryGb: recommendedMemoryGb)
        }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["imageType", "name", "status", "visibility"] }
        var name: String?
        var description: String?
        var imageType: ImageType?
        var baseOs: String?
        var osVersion: String?
        var architecture: String?
        var minCpuCores: Int?
        var minMemoryGb: Int?
        var minStorageGb: Int?
        var recommendedCpuCores: Int?
        var recommendedMemoryGb: Int?
        var status: ImageStatus?
        var visibility: ImageVisibility?
        var groupIds: [UUID]?
        static var immutableFields: Set<String> { ["ownerId", "tenantId", "sizeGb", "fileServerId", "filePath", "checksumMd5"] }
        static var fieldRules: [String: FieldRule] { ImageController.rules }

    }

    struct VersionBody: RequestBody {
        var versionNumber: String
        var versionName: String?
        var releaseNotes: String?
        var parentVersionId: UUID?
        var isDefault: Bool?
        static var immutableFields: Set<String> {
            ["imageId", "isLatest", "status", "sizeGb", "filePath", "checksumMd5", "checksumSha256", "sizeBytes", "virtualSizeBytes",
             "diskFormat", "createdBy"]
        }
        static var fieldRules: [String: FieldRule] { ImageController.versionRules }
    }

    struct VersionPatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["isDefault", "status"] }
        var status: ImageVersionStatus?
        var isDefault: Bool?
        var versionName: String?
        var releaseNotes: String?
        static var immutableFields: Set<String> {
            ["imageId", "versionNumber", "isLatest", "parentVersionId", "sizeGb", "filePath", "checksumMd5", "checksumSha256",
             "sizeBytes", "virtualSizeBytes", "diskFormat", "createdBy"]
        }
        static var fieldRules: [String: FieldRule] { ImageController.versionRules }
    }

    struct TagBody: RequestBody {
        var tagName: String
        var versionId: UUID
        var isImmutable: Bool?
        static var immutableFields: Set<String> { ["imageId"] }
        static var fieldRules: [String: FieldRule] { ["tagName": ImageController.tagNameRule] }
    }

    struct TagPatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["isImmutable", "versionId"] }
        var versionId: UUID?
        var isImmutable: Bool?
        static var immutableFields: Set<String> { ["imageId", "tagName"] }
    }

    /// A tag name: 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-' (as container tags).
    static func checkTagName(_ name: String, field: String) -> FieldError? {
        let b = Array(name.utf8)
        func allowed(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
        let ok = (1...128).contains(b.count) && b.allSatisfy(allowed) && b[0] != 0x2E && b[0] != 0x2D
        return ok ? nil : FieldError(field: field, message: "must be 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-'")
    }

    public func register(images routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create an image (its versions and files come next)", action: "image.create",
                  input: CreateBody.self, output: ImageView.self, status: 201, use: create)
        routes.on(.get, "", summary: "List the images the caller may see", action: "image.list",
                  output: Page<Image>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get an image", action: "image.read", output: ImageView.self, use: read)
        routes.on(.patch, ":id", summary: "Change an image (name, description, sizes, status, visibility, groups)",
                  action: "image.update", input: PatchBody.self, output: ImageView.self, use: update)
        routes.on(.delete, ":id", summary: "Delete an image with its versions, tags and files (refused while templates name it)",
                  action: "image.delete", output: EmptyBody.self, status: 204, use: delete)
        routes.on(.post, ":id/versions", summary: "Add a version (no file yet); it becomes the latest",
                  action: "image.versions.create", input: VersionBody.self, output: ImageVersion.self, status: 201, use: versionsCreate)
        routes.on(.get, ":id/versions", summary: "List an image's versions", action: "image.versions.list",
                  output: Page<ImageVersion>.self, list: Self.versionList, use: versionsList)
        routes.on(.get, ":id/versions/:versionId", summary: "Get an image version", action: "image.versions.read",
                  output: ImageVersion.self, use: versionRead)
        routes.on(.patch, ":id/versions/:versionId", summary: "Change a version's status, default flag, name or release notes",
                  action: "image.versions.update", input: VersionPatchBody.self, output: ImageVersion.self, use: versionUpdate)
        routes.on(.delete, ":id/versions/:versionId", summary: "Delete a version and its tags (refused while an immutable tag names it)",
                  action: "image.versions.delete", output: EmptyBody.self, status: 204, use: versionDelete)
        routes.on(.put, ":id/versions/:versionId/file",
                  summary: "Upload the version's file (the raw bytes, qcow2 or raw; once): streamed to the image store, SHA-256 and MD5 computed on the way",
                  action: "image.versions.file.upload", output: ImageVersion.self, rawBody: true, use: upload)
        routes.on(.get, ":id/versions/:versionId/file", summary: "Download the version's file (Range supported; ETag is its SHA-256)",
                  action: "image.versions.file.download", output: EmptyBody.self, rawResponse: true, use: download)
        routes.on(.head, ":id/versions/:versionId/file", summary: "The version's file's size and SHA-256 (ETag), without the bytes",
                  action: "image.versions.file.head", output: EmptyBody.self, use: download)
        routes.on(.post, ":id/versions/:versionId/actions/prefetch",
                  summary: "Warm the image caches of a data center's machines (or the machines named) ahead of a rollout: 202 + one Operation with an image.fetch step per machine",
                  action: "image.versions.prefetch", input: PrefetchBody.self, output: ZedgeCore.Operation.self, status: 202,
                  use: versionPrefetch)
        routes.on(.post, ":id/tags", summary: "Tag a version of the image", action: "image.tags.create",
                  input: TagBody.self, output: ImageTag.self, status: 201, use: tagsCreate)
        routes.on(.get, ":id/tags", summary: "List an image's tags", action: "image.tags.list",
                  output: Page<ImageTag>.self, list: Self.tagList, use: tagsList)
        routes.on(.get, ":id/tags/:tagName", summary: "Get a tag", action: "image.tags.read", output: ImageTag.self, use: tagRead)
        routes.on(.patch, ":id/tags/:tagName", summary: "Move a tag to another version, or make it immutable (an immutable tag never moves)",
                  action: "image.tags.update", input: TagPatchBody.self, output: ImageTag.self, use: tagUpdate)
        routes.on(.delete, ":id/tags/:tagName", summary: "Delete a tag (refused for an immutable tag)",
                  action: "image.tags.delete", output: EmptyBody.self, status: 204, use: tagDelete)
    }

    // MARK: - Route handlers: images

    /// Create an image (its versions and files come next) (`image.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .image, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let tenantId: UUID?
        if principal.role == .admin {
            tenantId = body.tenantId
            if let tenantId, try await tenants.find(tenantId).map({ $0.status != .inactive }) != true { throw Problem.invalid(field: "tenantId", "no such tenant") }
        } else {
            guard let own = principal.tenantId, body.tenantId == nil || body.tenantId == own else {
                throw Problem(.forbidden, detail: "Images are created in your own tenant.",
                              errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
            }
            tenantId = own
        }
        let groupIds = try await checkGroups(body.groupIds ?? [], tenantId: tenantId)
        let image = Image(
            name: body.name, description: body.description, imageType: body.imageType, baseOs: body.baseOs,
            osVersion: body.osVersion, architecture: body.architecture, minCpuCores: body.minCpuCores,
            minMemoryGb: body.minMemoryGb, minStorageGb: body.minStorageGb, recommendedCpuCores: body.recommendedCpuCores,
            recommendedMemoryGb: body.recommendedMemoryGb, visibility: body.visibility, ownerId: principal.userId, tenantId: tenantId)
        try await images.create(image, groupIds: groupIds)
        context.audit.resource(image.id)
        context.audit.detail("name", .string(image.name))
        return try JSONResponse.created(ImageView(image: image, groupIds: groupIds), at: "/api/v1/images/\(image.id)")
    }

    /// List the images the caller may see (`image.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .image, .read)
        let parameters = try ListParameters.parse(request, Self.list)
        return try JSONResponse.make(try await access.list(parameters.query, for: principal))
    }

    /// Get an image (`image.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .read)
        return try JSONResponse.make(ImageView(image: image, groupIds: try await access.groupIds(of: image.id)))
    }

    /// Change an image (name, description, sizes, status, visibility, groups) (`image.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var image = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        let value = patch.value
        if patch.has("name") { image.name = try required(value.name, "name") }
        if patch.has("description") { image.description = value.description }
        if patch.has("imageType") { image.imageType = try required(value.imageType, "imageType") }
        if patch.has("baseOs") { image.baseOs = value.baseOs }
        if patch.has("osVersion") { image.osVersion = value.osVersion }
        if patch.has("architecture") { image.architecture = value.architecture }
        if patch.has("minCpuCores") { image.minCpuCores = value.minCpuCores }
        if patch.has("minMemoryGb") { image.minMemoryGb = value.minMemoryGb }
        if patch.has("minStorageGb") { image.minStorageGb = value.minStorageGb }
        if patch.has("recommendedCpuCores") { image.recommendedCpuCores = value.recommendedCpuCores }
        if patch.has("recommendedMemoryGb") { image.recommendedMemoryGb = value.recommendedMemoryGb }
        if patch.has("status") { image.status = try required(value.status, "status") }
        if patch.has("visibility") { image.visibility = try required(value.visibility, "visibility") }
        let sizes = Self.sizeErrors(minCpuCores: image.minCpuCores, recommendedCpuCores: image.recommendedCpuCores,
                                    minMemoryGb: image.minMemoryGb, recommendedMemoryGb: image.recommendedMemoryGb)
        guard sizes.isEmpty else { throw Problem.invalid(sizes) }
        var groupIds = try await access.groupIds(of: image.id)
        if patch.has("groupIds") { groupIds = try await checkGroups(value.groupIds ?? [], tenantId: image.tenantId) }
        if image.visibility == .groupSpecific, groupIds.isEmpty {
            throw Problem.invalid(field: "groupIds", "must name at least one group for GROUP_SPECIFIC visibility")
        }
        if image.visibility != .groupSpecific { groupIds = [] }
        image.updatedAt = Date()
        try await images.update(image, groupIds: groupIds)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(ImageView(image: image, groupIds: groupIds))
    }

    /// Delete an image with its versions, tags and files (refused while templates name it) (`image.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .delete)
        try await service.deleteImage(image.id)
        return JSONResponse.noContent()
    }

    // MARK: - Route handlers: versions

    /// Add a version (no file yet); it becomes the latest (`image.versions.create`).
    func versionsCreate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let image = try await reachable(context, .update)
        let body = try await request.decodeBody(VersionBody.self, context: context).value
        let version = try await service.publish(
            .init(versionNumber: body.versionNumber, versionName: body.versionName, releaseNotes: body.releaseNotes,
                  parentVersionId: body.parentVersionId, isDefault: body.isDefault ?? false),
            on: image.id, by: principal.userId)
        context.audit.detail("versionId", .string(version.id.uuidString))
        context.audit.detail("versionNumber", .string(version.versionNumber))
        return try JSONResponse.created(version, at: "/api/v1/images/\(image.id)/versions/\(version.id)")
    }

    /// List an image's versions (`image.versions.list`).
    func versionsList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .read)
        var parameters = try ListParameters.parse(request, Self.versionList)
        parameters.force("imageId", .uuid(image.id))
        return try JSONResponse.make(try await images.versions(parameters.query))
    }

    /// Get an image version (`image.versions.read`).
    func versionRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .read)
        return try JSONResponse.make(try await version(of: image, context))
    }

    /// Change a version's status, default flag, name or release notes (`image.versions.update`).
    func versionUpdate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .update)
        let versionId = try context.id("versionId", resource: "Image version")
        let patch = try await request.decodeBody(VersionPatchBody.self, context: context)
        var change = ImageService.VersionChange()
        if patch.has("status") { change.status = try required(patch.value.status, "status") }
        if patch.has("isDefault") { change.isDefault = try required(patch.value.isDefault, "isDefault") }
        if patch.has("versionName") { change.versionName = .some(patch.value.versionName) }
        if patch.has("releaseNotes") { change.releaseNotes = .some(patch.value.releaseNotes) }
        let version = try await service.change(versionId, of: image.id, change)
        context.audit.detail("versionId", .string(versionId.uuidString))
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(version)
    }

    /// Delete a version and its tags (refused while an immutable tag names it) (`image.versions.delete`).
    func versionDelete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .update)
        let versionId = try context.id("versionId", resource: "Image version")
        try await service.deleteVersion(versionId, of: image.id)
        context.audit.detail("versionId", .string(versionId.uuidString))
        return JSONResponse.noContent()
    }

    // MARK: - Route handlers: files

    /// Upload the version's file (the raw bytes, qcow2 or raw; once) (`image.versions.file.upload`).
    func upload(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .update)
        let versionId = try context.id("versionId", resource: "Image version")
        context.audit.detail("versionId", .string(versionId.uuidString))
        let declared = request.headers[.contentLength].flatMap { Int64($0) }
        let version = try await service.upload(to: versionId, of: image.id, declaredBytes: declared, request.body)
        context.audit.detail("sha256", version.checksumSha256.map { .string($0) } ?? .null)
        context.audit.detail("sizeBytes", version.sizeBytes.map { .number(Double($0)) } ?? .null)
        context.audit.detail("diskFormat", version.diskFormat.map { .string($0.rawValue) } ?? .null)
        return try JSONResponse.make(version)
    }

    /// Download the version's file (Range supported; ETag is its SHA-256) (`image.versions.file.download`), and
    /// its HEAD (`image.versions.file.head`).
    func download(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .read)
        let versionId = try context.id("versionId", resource: "Image version")
        guard let version = try await service.downloadable(versionId, of: image) else { throw Problem.notFound("Image file") }
        let service = self.service
        return try ImageFileResponse.make(request, version: version) { range, body in
            try await service.read(version, range: range, body)
        }
    }

    // MARK: - Route handlers: tags

    /// Tag a version of the image (`image.tags.create`).
    func tagsCreate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .update)
        let body = try await request.decodeBody(TagBody.self, context: context).value
        let tag = try await service.createTag(body.tagName, on: image.id, versionId: body.versionId, isImmutable: body.isImmutable ?? false)
        context.audit.detail("tagName", .string(tag.tagName))
        return try JSONResponse.created(tag, at: "/api/v1/images/\(image.id)/tags/\(tag.tagName)")
    }

    /// List an image's tags (`image.tags.list`).
    func tagsList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .read)
        var parameters = try ListParameters.parse(request, Self.tagList)
        parameters.force("imageId", .uuid(image.id))
        return try JSONResponse.make(try await images.tags(parameters.query))
    }

    /// Get a tag (`image.tags.read`).
    func tagRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .read)
        guard let tag = try await images.tag(of: image.id, named: try tagName(context), in: nil) else { throw Problem.notFound("Image tag") }
        return try JSONResponse.make(tag)
    }

    /// Move a tag to another version, or make it immutable (an immutable tag never moves) (`image.tags.update`).
    func tagUpdate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .update)
        let name = try tagName(context)
        let patch = try await request.decodeBody(TagPatchBody.self, context: context)
        let versionId = patch.has("versionId") ? try required(patch.value.versionId, "versionId") : nil
        let isImmutable = patch.has("isImmutable") ? try required(patch.value.isImmutable, "isImmutable") : nil
        let tag = try await service.changeTag(name, on: image.id, versionId: versionId, isImmutable: isImmutable)
        context.audit.detail("tagName", .string(name))
        return try JSONResponse.make(tag)
    }

    /// Delete a tag (refused for an immutable tag) (`image.tags.delete`).
    func tagDelete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let image = try await reachable(context, .update)
        let name = try tagName(context)
        try await service.deleteTag(name, on: image.id)
        context.audit.detail("tagName", .string(name))
        return JSONResponse.noContent()
    }

    /// Warm the image caches of a data center's machines (or the machines named) ahead of a rollout: 202 +
    /// one Operation with an image.fetch step per machine (`image.versions.prefetch`). An operator's step:
    /// it needs `SERVER:EXECUTE` and an image the caller may see.
    func versionPrefetch(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .server, .execute)
        let image = try await reachable(context, .read)
        let version = try await version(of: image, context)
        let body = try await request.decodeBody(PrefetchBody.self, context: context).value
        let target: ImagePrefetch.Target = if let center = body.edgeDataCenterId { .edgeDataCenter(center) }
            else { .computeMachines(body.computeMachineIds ?? []) }
        let operation = try await prefetch.prefetch(version, of: image, to: target, by: principal, request: try JSONValue(encoding: body))
        context.audit.detail("operationId", .string(operation.id.uuidString))
        return try JSONResponse.make(operation, status: .accepted, headers: [.location: "/api/v1/operations/\(operation.id)"])
    }

    // MARK: - Helpers

    /// The image named by `{id}`: 404 when the caller cannot see it; for changes, 403 unless the role holds
    /// `IMAGE:<action>` and the caller manages the image (its owner, its tenant's TENANT_ADMINs, ADMIN).
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Image {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Image")
        context.audit.resource(id)
        let image = try await authorizer.reach(principal, .image, .read, notFound: "Image") {
            try await images.find(id)
        } visible: { image in
            try await access.canSee(image, principal)
        }
        if action != .read {
            try authorizer.require(principal, .image, action)
            guard access.canManage(image, principal) else {
                throw Problem.forbidden("Only the image's owner, its tenant's admins and ADMIN may change it.")
            }
        }
        return image
    }

    func version(of image: Image, _ context: ZedgeRequestContext) async throws -> ImageVersion {
        let versionId = try context.id("versionId", resource: "Image version")
        guard let version = try await images.version(versionId, in: nil), version.imageId == image.id else {
            throw Problem.notFound("Image version")
        }
        return version
    }

    func tagName(_ context: ZedgeRequestContext) throws -> String {
        guard let name = context.parameters.get("tagName"), Self.checkTagName(name, field: "tagName") == nil else {
            throw Problem.notFound("Image tag")
        }
        return name
    }

    /// The groups exist and live in the image's tenant (`GroupGrantCheck`).
    func checkGroups(_ ids: [UUID], tenantId: UUID?) async throws -> [UUID] {
        try await GroupGrantCheck(userGroups: userGroups, resource: "image").validated(ids, tenantId: tenantId)
    }
}

/// An image with the groups a GROUP_SPECIFIC one is shared with.
public struct ImageView: Codable, Sendable {
    public var image: Image
    public var groupIds: [UUID]

    public init(image: Image, groupIds: [UUID]) {
        self.image = image
        self.groupIds = groupIds
    }

    enum CodingKeys: String, CodingKey { case groupIds }

    public init(from decoder: any Decoder) throws {
        image = try Image(from: decoder)
        groupIds = try decoder.container(keyedBy: CodingKeys.self).decode([UUID].self, forKey: .groupIds)
    }

    public func encode(to encoder: any Encoder) throws {
        try image.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(groupIds, forKey: .groupIds)
    }
}
