import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/users`. ADMIN manages everyone; a TENANT_ADMIN manages the USERs and TENANT_ADMINs of its
/// tenant; OPERATORs and USERs read and change themselves (email and password only).
///
/// DELETE is a soft delete (the seed's design note 3): the user becomes INACTIVE (`UserRepository.deactivate`)
/// and from then on answers 404 on GET, PATCH and DELETE, and is listed only by `?status=INACTIVE`. INACTIVE
/// is reached only through DELETE (a body naming it is a 400), and an INACTIVE user keeps its username and
/// email: they are not free for a new user (409), so that audit rows naming them stay unambiguous.
public struct UserController: Sendable {
    let users: any UserRepository
    let tenants: any ModelRepository<Tenant>
    let authorizer: Authorizer
    let hasher: PasswordHasher

    static let list = ListSpec(filters: ["role": .of(UserRole.self), "status": .of(UserStatus.self), "tenantId": .uuid])

    struct CreateBody: RequestBody {
        var username: String
        var email: String
        var password: String
        var role: UserRole
        var status: UserStatus?
        var tenantId: UUID?
        var quotaConfig: QuotaConfig?
        static var immutableFields: Set<String> { ["lastLoginAt", "passwordHash"] }
        static var fieldRules: [String: FieldRule] { UserController.rules.merging(["username": .username]) { $1 } }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["email", "password", "role", "status"] }
        var email: String?
        var password: String?
        var role: UserRole?
        var status: UserStatus?
        var tenantId: UUID?
        var quotaConfig: QuotaConfig?
        static var immutableFields: Set<String> { ["username", "lastLoginAt", "passwordHash"] }
        static var fieldRules: [String: FieldRule] { UserController.rules }
    }

    /// The rules of a user's fields, in create and PATCH alike. INACTIVE is what DELETE makes (tokens and keys
    /// revoked with it), never a value a body sets.
    static let rules: [String: FieldRule] = [
        "email": .email, "password": .password,
        "status": .oneOf([UserStatus.active, .locked], message: "must be ACTIVE or LOCKED (DELETE deletes)"),
    ]

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a user", action: "user.create",
                  input: CreateBody.self, output: User.self, status: 201, use: create)
        routes.on(.get, "", summary: "List users", action: "user.list", output: Page<User>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a user", action: "user.read", output: User.self, use: read)
        routes.on(.patch, ":id", summary: "Change a user", action: "user.update",
                  input: PatchBody.self, output: User.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a user", action: "user.delete",
                  output: EmptyBody.self, status: 204, use: delete)
    }

    // MARK: - Route handlers

    /// Create a user (`user.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .user, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        var tenantId = body.tenantId
        if principal.role == .tenantAdmin {
            if let requested = tenantId, requested != principal.tenantId {
                throw Problem(.forbidden, detail: "A TENANT_ADMIN creates users in its own tenant only.",
                              errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
            }
            tenantId = principal.tenantId
        }
        try checkRole(body.role, by: principal)
        try await checkTenant(tenantId, for: body.role)
        let user = User(
            username: body.username.lowercased(), email: body.email.lowercased(), role: body.role,
            status: body.status ?? .active, tenantId: tenantId, quotaConfig: body.quotaConfig)
        try await users.insert(user, passwordHash: try await hasher.hash(body.password))
        context.audit.resource(user.id)
        context.audit.detail("username", .string(user.username))
        context.audit.detail("role", .string(user.role.rawValue))
        return try JSONResponse.created(user, at: "/api/v1/users/\(user.id.uuidString)")
    }

    /// List users (`user.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .user, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        switch principal.role {
        case .admin: break
        case .tenantAdmin: parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
        case .operator, .user: parameters.force("id", .uuid(principal.userId))
        }
        parameters.hideSoftDeleted(UserStatus.inactive.rawValue)
        return try JSONResponse.make(try await users.list(parameters.query))
    }

    /// Get a user (`user.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change a user (`user.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var user = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        try checkPatchRights(patch, on: user, by: principal)
        let body = patch.value
        if patch.has("email") { user.email = try required(body.email, "email").lowercased() }
        if patch.has("role") { user.role = try required(body.role, "role") }
        if patch.has("status") { user.status = try required(body.status, "status") }
        if patch.has("tenantId") { user.tenantId = body.tenantId }
        if patch.has("quotaConfig") { user.quotaConfig = body.quotaConfig }
        if patch.has("role") || patch.has("tenantId") { try await checkTenant(user.tenantId, for: user.role) }
        user.updatedAt = Date()
        guard try await users.updateKeepingAnActiveAdmin(user) else { throw Problem.notFound("User") }
        if patch.has("password") {
            try await users.setPasswordHash(try await hasher.hash(try required(body.password, "password")), for: user.id)
        }
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(user)
    }

    /// Delete a user (`user.delete`): INACTIVE, its refresh tokens and API keys revoked, its group
    /// memberships gone; 409 while it has live instances, disks, VPCs, templates or images.
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let user = try await reachable(context, .delete)
        guard user.id != principal.userId else { throw Problem.conflict("You cannot delete yourself.") }
        guard try await users.deactivate(user.id, at: Date()) else { throw Problem.notFound("User") }
        return JSONResponse.noContent()
    }

    /// The user if the caller may `action` them: 404 outside the caller's reach or when deleted (INACTIVE),
    /// then 403 for a role without the permission.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> User {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "User")
        context.audit.resource(id)
        return try await authorizer.reach(principal, .user, action, notFound: "User") {
            try await users.find(id)
        } visible: { user in
            guard user.status != .inactive else { return false }
            return switch principal.role {
            case .admin: true
            case .tenantAdmin: user.tenantId != nil && user.tenantId == principal.tenantId
            case .operator, .user: user.id == principal.userId
            }
        }
    }

    /// Which roles a caller may hand out: ADMIN any; TENANT_ADMIN only USER and TENANT_ADMIN.
    func checkRole(_ role: UserRole, by principal: Principal) throws {
        guard principal.role == .admin || [.user, .tenantAdmin].contains(role) else {
            throw Problem(.forbidden, detail: "Only an ADMIN may grant the role \(role.rawValue).",
                          errors: [FieldError(field: "role", message: "may be granted by an ADMIN only")])
        }
    }

    /// TENANT_ADMINs and USERs belong to an existing tenant.
    func checkTenant(_ tenantId: UUID?, for role: UserRole) async throws {
        if let tenantId {
            guard let tenant = try await tenants.find(tenantId), tenant.status != .inactive else {
                throw Problem.invalid(field: "tenantId", "no such tenant")
            }
        } else if [.tenantAdmin, .user].contains(role) {
            throw Problem.invalid(field: "tenantId", "is required for the role \(role.rawValue)")
        }
    }

    /// Property-level rules: a user changes only its own email and password; a TENANT_ADMIN cannot make
    /// an ADMIN or OPERATOR nor move a user out of its tenant.
    func checkPatchRights(_ patch: DecodedBody<PatchBody>, on user: User, by principal: Principal) throws {
        func refuse(_ field: String, _ detail: String) -> Problem {
            Problem(.forbidden, detail: detail, errors: [FieldError(field: field, message: detail)])
        }
        switch principal.role {
        case .admin:
            return
        case .tenantAdmin:
            if patch.has("tenantId"), patch.value.tenantId != principal.tenantId {
                throw refuse("tenantId", "A TENANT_ADMIN cannot move a user to another tenant.")
            }
            if patch.has("role"), let role = patch.value.role { try checkRole(role, by: principal) }
            if user.id == principal.userId {
                for field in ["role", "status", "quotaConfig"] where patch.has(field) {
                    throw refuse(field, "You cannot change your own \(field).")
                }
            }
        case .operator, .user:
            for field in ["role", "status", "tenantId", "quotaConfig"] where patch.has(field) {
                throw refuse(field, "You cannot change your own \(field).")
            }
        }
    }
}
