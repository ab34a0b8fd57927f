import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/tenants`: ADMIN manages every tenant; a TENANT_ADMIN reads its own and edits its description;
/// a USER reads its own.
///
/// DELETE is a soft delete (the seed's design note 3): the tenant becomes INACTIVE once nothing live refers
/// to it (`TenantRepository.deactivate`), and from then on answers 404 on GET, PATCH and DELETE and is listed
/// only by `?status=INACTIVE`. INACTIVE is reached only through DELETE (a body naming it is a 400); the
/// tenant keeps its name (not free for a new tenant: 409) and frees its VLAN.
public struct TenantController: Sendable {
    let tenants: any TenantRepository
    let users: any UserRepository
    let networks: NetworkService
    let authorizer: Authorizer

    static let list = ListSpec(filters: ["status": .of(TenantStatus.self)])

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var status: TenantStatus?
        var adminUserId: UUID?
        var vlanId: Int?
        var quotaConfig: QuotaConfig?
        static var immutableFields: Set<String> { ["createdBy"] }
        static var fieldRules: [String: FieldRule] { TenantController.rules }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name", "status"] }
        var name: String?
        var description: String?
        var status: TenantStatus?
        var adminUserId: UUID?
        var vlanId: Int?
        var quotaConfig: QuotaConfig?
        static var immutableFields: Set<String> { ["createdBy"] }
        static var fieldRules: [String: FieldRule] { TenantController.rules }
    }

    /// INACTIVE is what DELETE makes, never a value a body sets.
    /// The rules of a tenant's fields, in create and PATCH alike. INACTIVE is what DELETE makes.
    static let rules: [String: FieldRule] = [
        "name": .name, "description": .description(), "vlanId": .vlanId,
        "status": .oneOf([TenantStatus.active, .suspended], message: "must be ACTIVE or SUSPENDED (DELETE deletes)"),
    ]

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a tenant", action: "tenant.create",
                  input: CreateBody.self, output: Tenant.self, status: 201, use: create)
        routes.on(.get, "", summary: "List tenants", action: "tenant.list", output: Page<Tenant>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a tenant", action: "tenant.read", output: Tenant.self, use: read)
        routes.on(.patch, ":id", summary: "Change a tenant", action: "tenant.update",
                  input: PatchBody.self, output: Tenant.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a tenant (INACTIVE; refused while it has live users or resources)",
                  action: "tenant.delete", output: EmptyBody.self, status: 204, use: delete)
    }

    // MARK: - Route handlers

    /// Create a tenant (`tenant.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .tenant, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        if let adminUserId = body.adminUserId { try await requireTenantAdmin(adminUserId, of: nil) }
        let tenant = Tenant(
            name: body.name, description: body.description, status: body.status ?? .active,
            adminUserId: body.adminUserId, vlanId: body.vlanId, quotaConfig: body.quotaConfig,
            createdBy: principal.userId)
        if body.vlanId != nil { try await networks.checkTenantVlan(body.vlanId, for: tenant.id, current: nil) }
        try await tenants.insert(tenant)
        context.audit.resource(tenant.id)
        context.audit.detail("name", .string(tenant.name))
        return try JSONResponse.created(tenant, at: "/api/v1/tenants/\(tenant.id.uuidString)")
    }

    /// List tenants (`tenant.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .tenant, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        if principal.role != .admin { parameters.force("id", principal.tenantId.map { .uuid($0) } ?? .null) }
        parameters.hideSoftDeleted(TenantStatus.inactive.rawValue)
        return try JSONResponse.make(try await tenants.list(parameters.query))
    }

    /// Get a tenant (`tenant.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let tenant = try await reachable(context, .read)
        return try JSONResponse.make(tenant)
    }

    /// Change a tenant (`tenant.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var tenant = try await reachable(context, .update)
        let principal = try context.requirePrincipal()
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if principal.role != .admin {
            let forbidden = patch.presentFields.subtracting(["description"]).sorted()
            if let field = forbidden.first {
                throw Problem(.forbidden, detail: "Only an ADMIN may change \(field).",
                              errors: [FieldError(field: field, message: "may be changed by an ADMIN only")])
            }
        }
        let body = patch.value
        if patch.has("name") { tenant.name = try required(body.name, "name") }
        if patch.has("description") { tenant.description = body.description }
        if patch.has("status") { tenant.status = try required(body.status, "status") }
        if patch.has("vlanId") {
            try await networks.checkTenantVlan(body.vlanId, for: tenant.id, current: tenant.vlanId)
            tenant.vlanId = body.vlanId
        }
        if patch.has("quotaConfig") { tenant.quotaConfig = body.quotaConfig }
        if patch.has("adminUserId") {
            if let adminUserId = body.adminUserId { try await requireTenantAdmin(adminUserId, of: tenant.id) }
            tenant.adminUserId = body.adminUserId
        }
        tenant.updatedAt = Date()
        guard try await tenants.update(tenant) else { throw Problem.notFound("Tenant") }
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(tenant)
    }

    /// Delete a tenant (INACTIVE; refused while it has live users or resources) (`tenant.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let tenant = try await reachable(context, .delete)
        guard try await tenants.deactivate(tenant.id, at: Date()) else { throw Problem.notFound("Tenant") }
        return JSONResponse.noContent()
    }

    /// The tenant if the caller may `action` it: 404 when it is not the caller's (whether or not it
    /// exists) or deleted (INACTIVE), then 403 for a role without the permission.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Tenant {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Tenant")
        context.audit.resource(id)
        return try await authorizer.reach(principal, .tenant, action, notFound: "Tenant") {
            try await tenants.find(id)
        } visible: { tenant in
            tenant.status != .inactive && (principal.role == .admin || principal.tenantId == id)
        }
    }

    func requireTenantAdmin(_ userId: UUID, of tenantId: UUID?) async throws {
        guard let user = try await users.find(userId), user.status != .inactive, user.role == .tenantAdmin,
              tenantId == nil || user.tenantId == tenantId else {
            throw Problem.invalid(field: "adminUserId", "must be a TENANT_ADMIN of this tenant")
        }
    }
}

/// A present field whose value may not be null.
func required<T>(_ value: T?, _ field: String) throws -> T {
    guard let value else { throw Problem.malformed(field: field, "must not be null") }
    return value
}

