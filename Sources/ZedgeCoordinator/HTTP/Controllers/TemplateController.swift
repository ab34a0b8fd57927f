import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/templates` and `/api/v1/templates/{id}/versions`.
///
/// Visibility, enforced on read and on use: PUBLIC templates are everyone's; a PRIVATE one is its owner's
/// and its tenant admins'; a GROUP_SPECIFIC one also belongs to the members of the groups it names
/// (`groupIds`). ADMIN sees all. A template's size and parameters live in its versions' configSnapshot
/// (exactly one `isLatest` per template); the template's default* fields mirror its latest version.
/// `baseImageId` (and a new version's `config.baseImageId`) must name an ACTIVE image the caller may use
/// (400 naming the field otherwise); global template names (no tenant) are unique, as names within a tenant.
public struct TemplateController: Sendable {
    let tenants: any ModelRepository<Tenant>
    let userGroups: any ModelRepository<UserGroup>
    let templates: any TemplateRepository
    let templateVersions: any ModelRepository<TemplateVersion>
    let instances: any InstanceRepository
    let authorizer: Authorizer
    let access: TemplateAccess
    /// Checks that a template's `baseImageId` names an image its creator may use.
    let images: ImageService

    static let list = ListSpec(filters: [
        "status": .of(TemplateStatus.self), "visibility": .of(TemplateVisibility.self), "tenantId": .uuid,
        "useCase": .of(TemplateUseCase.self), "name": .string,
    ])

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var useCase: TemplateUseCase?
        var templateType: TemplateType?
        var baseImageId: UUID?
        var defaultCpuCores: Int
        var defaultMemoryGb: Int
        var defaultStorageGb: Int
        var defaultGpuCount: Int?
        var defaultBandwidthGbps: Double?
        var gpuModel: String?
        var networkConfig: JSONValue?
        var userData: String?
        var tags: JSONValue?
        var visibility: TemplateVisibility
        var tenantId: UUID?
        var version: String?
        var changelog: String?
        var console: GraphicsKind?
        var parameters: [TemplateParameter]?
        var groupIds: [UUID]?
        /// ACTIVE unless given (PATCH may set it too: create accepts what PATCH accepts).
        var status: TemplateStatus?
        static var immutableFields: Set<String> { ["ownerId"] }

        static var fieldRules: [String: FieldRule] {
            ["name": .name, "description": .description(), "version": TemplateController.versionRule,
             "changelog": .description(maxLength: 4096), "defaultCpuCores": .integer(TemplateConfig.cpuRange),
             "defaultMemoryGb": .integer(TemplateConfig.memoryRange), "defaultStorageGb": .integer(TemplateConfig.storageRange),
             "defaultGpuCount": .integer(TemplateConfig.gpuRange), "gpuModel": .displayText(maxLength: 128),
             "userData": .length(0...TemplateConfig.maximumUserData), "parameters": .items(0...TemplateConfig.maximumParameters),
             "defaultBandwidthGbps": .number(0...10_000)]
        }
        var config: TemplateConfig {
            TemplateConfig(cpuCores: defaultCpuCores, memoryGb: defaultMemoryGb, storageGb: defaultStorageGb,
                           gpuCount: defaultGpuCount ?? 0, gpuModel: gpuModel, baseImageId: baseImageId,
                           networkConfig: networkConfig, userData: userData, console: console ?? .vnc,
                           parameters: parameters ?? [])
        }

        func validate() -> [FieldError] {
            var errors = config.validate().map {
                let field = ["cpuCores": "defaultCpuCores", "memoryGb": "defaultMemoryGb", "storageGb": "defaultStorageGb",
                             "gpuCount": "defaultGpuCount"][$0.field] ?? $0.field
                return FieldError(field: field, message: $0.message)
            }
            if visibility == .groupSpecific, (groupIds ?? []).isEmpty {
                errors.append(FieldError(field: "groupIds", message: "must name at least one group for GROUP_SPECIFIC visibility"))
            }
            if visibility != .groupSpecific, !(groupIds ?? []).isEmpty {
                errors.append(FieldError(field: "groupIds", message: "only GROUP_SPECIFIC templates name groups"))
            }
            return errors
        }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name", "status", "visibility"] }
        var name: String?
        var description: String?
        var useCase: TemplateUseCase?
        var status: TemplateStatus?
        var visibility: TemplateVisibility?
        var tags: JSONValue?
        var groupIds: [UUID]?
        static var immutableFields: Set<String> {
            ["ownerId", "tenantId", "version", "defaultCpuCores", "defaultMemoryGb", "defaultStorageGb", "defaultGpuCount",
             "baseImageId", "networkConfig", "userData", "parameters", "templateType"]
        }
        static var fieldRules: [String: FieldRule] { ["name": .name, "description": .description()] }
    }

    struct VersionBody: RequestBody {
        var versionNumber: String
        var changelog: String?
        var config: TemplateConfig
        static var fieldRules: [String: FieldRule] {
            ["versionNumber": TemplateController.versionRule, "changelog": .description(maxLength: 4096)]
        }
        func validate() -> [FieldError] {
            config.validate(prefix: "config.")
        }
    }

    /// A version number (`checkVersion`).
    static let versionRule = FieldRule.string(
        ["minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"], { version, field in checkVersion(version, field: field) })

    static func checkVersion(_ version: String, field: String) -> FieldError? {
        let ok = (1...64).contains(version.utf8.count)
            && version.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
        return ok ? nil : FieldError(field: field, message: "must be 1-64 letters, digits, '.', '-' or '_' (e.g. v1.2.0)")
    }

    public func register(templates routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a template with its first version", action: "template.create",
                  input: CreateBody.self, output: TemplateView.self, status: 201, use: create)
        routes.on(.get, "", summary: "List the templates the caller may see", action: "template.list",
                  output: Page<Template>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a template", action: "template.read", output: TemplateView.self, use: read)
        routes.on(.patch, ":id", summary: "Change a template (name, description, status, visibility, groups)",
                  action: "template.update", input: PatchBody.self, output: TemplateView.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a template (refused while instances use it; deprecate it instead)",
                  action: "template.delete", output: EmptyBody.self, status: 204, use: delete)
        routes.on(.get, ":id/versions", summary: "List a template's versions", action: "template.versions.list",
                  output: Page<TemplateVersion>.self, list: ListSpec(), use: versionsList)
        routes.on(.get, ":id/versions/:versionId", summary: "Get a template version", action: "template.versions.read",
                  output: TemplateVersion.self, use: versionsRead)
        routes.on(.post, ":id/versions", summary: "Publish a new version; it becomes the latest",
                  action: "template.versions.create", input: VersionBody.self, output: TemplateVersion.self, status: 201, use: versionsCreate)
    }

    // MARK: - Route handlers

    /// Create a template with its first version (`template.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .template, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let tenantId: UUID?
        if principal.role == .admin {
            tenantId = body.tenantId
            if let tenantId, try await tenants.find(tenantId).map({ $0.status != .inactive }) != true { throw Problem.invalid(field: "tenantId", "no such tenant") }
        } else {
            guard let own = principal.tenantId, body.tenantId == nil || body.tenantId == own else {
                throw Problem(.forbidden, detail: "Templates are created in your own tenant.",
                              errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
            }
            tenantId = own
        }
        let groupIds = try await checkGroups(body.groupIds ?? [], tenantId: tenantId)
        if let imageId = body.baseImageId { try await images.checkUsable(imageId, by: principal, field: "baseImageId") }
        let config = body.config
        let template = Template(
            name: body.name, description: body.description, useCase: body.useCase, templateType: body.templateType ?? .instance,
            baseImageId: body.baseImageId, defaultCpuCores: config.cpuCores, defaultMemoryGb: config.memoryGb,
            defaultStorageGb: config.storageGb, defaultGpuCount: config.gpuCount, defaultBandwidthGbps: body.defaultBandwidthGbps,
            networkConfig: body.networkConfig, userData: body.userData, tags: body.tags, visibility: body.visibility,
            ownerId: principal.userId, tenantId: tenantId, version: body.version ?? "v1.0.0", status: body.status ?? .active)
        let version = TemplateVersion(templateId: template.id, versionNumber: template.version, isLatest: true,
                                      configSnapshot: try JSONValue(encoding: config), changelog: body.changelog,
                                      createdBy: principal.userId)
        try await templates.create(template, version: version, groupIds: groupIds)
        context.audit.resource(template.id)
        context.audit.detail("name", .string(template.name))
        return try JSONResponse.created(TemplateView(template: template, groupIds: groupIds), at: "/api/v1/templates/\(template.id)")
    }

    /// List the templates the caller may see (`template.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .template, .read)
        let parameters = try ListParameters.parse(request, Self.list)
        return try JSONResponse.make(try await access.list(parameters.query, for: principal))
    }

    /// Get a template (`template.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let template = try await reachable(context, .read)
        return try JSONResponse.make(TemplateView(template: template, groupIds: try await access.groupIds(of: template.id)))
    }

    /// Change a template (name, description, status, visibility, groups) (`template.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var template = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("name") { template.name = try required(patch.value.name, "name") }
        if patch.has("description") { template.description = patch.value.description }
        if patch.has("useCase") { template.useCase = patch.value.useCase }
        if patch.has("status") { template.status = try required(patch.value.status, "status") }
        if patch.has("visibility") { template.visibility = try required(patch.value.visibility, "visibility") }
        if patch.has("tags") { template.tags = patch.value.tags }
        var groupIds = try await access.groupIds(of: template.id)
        if patch.has("groupIds") { groupIds = try await checkGroups(patch.value.groupIds ?? [], tenantId: template.tenantId) }
        if template.visibility == .groupSpecific, groupIds.isEmpty {
            throw Problem.invalid(field: "groupIds", "must name at least one group for GROUP_SPECIFIC visibility")
        }
        if template.visibility != .groupSpecific { groupIds = [] }
        template.updatedAt = Date()
        try await templates.update(template, groupIds: groupIds)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(TemplateView(template: template, groupIds: groupIds))
    }

    /// Delete a template (refused while instances use it; deprecate it instead) (`template.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let template = try await reachable(context, .delete)
        let using = try await instances.count([.equal("templateId", template.id)])
        guard using == 0 else {
            throw ConstraintViolation.stillReferenced(
                resource: "template", by: [.init("instance", count: using, field: "instances.templateId")],
                hint: "set its status to DEPRECATED or ARCHIVED instead")
        }
        guard try await templates.delete(template.id) else { throw Problem.notFound("Template") }
        return JSONResponse.noContent()
    }

    /// List a template's versions (`template.versions.list`).
    func versionsList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let template = try await reachable(context, .read)
        var parameters = try ListParameters.parse(request, ListSpec())
        parameters.force("templateId", .uuid(template.id))
        return try JSONResponse.make(try await templateVersions.list(parameters.query))
    }

    /// Get a template version (`template.versions.read`): the `Location` of `versionsCreate`; 404 for a version of
    /// another template.
    func versionsRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let template = try await reachable(context, .read)
        let versionId = try context.id("versionId", resource: "Template version")
        guard let version = try await templateVersions.find(versionId), version.templateId == template.id else {
            throw Problem.notFound("Template version")
        }
        return try JSONResponse.make(version)
    }

    /// Publish a new version; it becomes the latest (`template.versions.create`).
    func versionsCreate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var template = try await reachable(context, .update)
        let body = try await request.decodeBody(VersionBody.self, context: context).value
        if let imageId = body.config.baseImageId, imageId != template.baseImageId {
            try await images.checkUsable(imageId, by: principal, field: "config.baseImageId")
        }
        let version = TemplateVersion(templateId: template.id, versionNumber: body.versionNumber, isLatest: true,
                                      configSnapshot: try JSONValue(encoding: body.config), changelog: body.changelog,
                                      createdBy: principal.userId)
        template.version = body.versionNumber
        template.defaultCpuCores = body.config.cpuCores
        template.defaultMemoryGb = body.config.memoryGb
        template.defaultStorageGb = body.config.storageGb
        template.defaultGpuCount = body.config.gpuCount
        template.baseImageId = body.config.baseImageId
        template.networkConfig = body.config.networkConfig
        template.userData = body.config.userData
        template.updatedAt = Date()
        try await templates.publish(version, on: template)
        context.audit.detail("versionNumber", .string(version.versionNumber))
        return try JSONResponse.created(version, at: "/api/v1/templates/\(template.id)/versions/\(version.id)")
    }

    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Template {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Template")
        context.audit.resource(id)
        // What the caller cannot see does not exist for it (404); what it sees but does not manage is a 403.
        let template = try await authorizer.reach(principal, .template, .read, notFound: "Template") {
            try await templates.find(id)
        } visible: { template in
            try await access.canSee(template, principal)
        }
        if action != .read {
            try authorizer.require(principal, .template, action)
            guard access.canManage(template, principal) else {
                throw Problem.forbidden("Only the template's owner, its tenant's admins and ADMIN may change it.")
            }
        }
        return template
    }

    /// The groups exist and live in the template's tenant (`GroupGrantCheck`).
    func checkGroups(_ ids: [UUID], tenantId: UUID?) async throws -> [UUID] {
        try await GroupGrantCheck(userGroups: userGroups, resource: "template").validated(ids, tenantId: tenantId)
    }
}

/// A template with the groups a GROUP_SPECIFIC one is shared with.
public struct TemplateView: Codable, Sendable {
    public var template: Template
    public var groupIds: [UUID]

    public init(template: Template, groupIds: [UUID]) {
        self.template = template
        self.groupIds = groupIds
    }

    enum CodingKeys: String, CodingKey { case groupIds }

    public init(from decoder: any Decoder) throws {
        template = try Template(from: decoder)
        groupIds = try decoder.container(keyedBy: CodingKeys.self).decode([UUID].self, forKey: .groupIds)
    }

    public func encode(to encoder: any Encoder) throws {
        try template.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(groupIds, forKey: .groupIds)
    }
}
