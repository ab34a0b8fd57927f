import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/user-groups` and `/api/v1/user-groups/{id}/members`. Groups live in one tenant and nest through
/// parentGroupId (no cycles, parent in the same tenant). A USER sees the groups it belongs to.
public struct UserGroupController: Sendable {
    let groups: any ModelRepository<UserGroup>
    let members: any ModelRepository<UserGroupMember>
    let users: any UserRepository
    let tenants: any ModelRepository<Tenant>
    let authorizer: Authorizer

    static let list = ListSpec(filters: ["tenantId": .uuid, "parentGroupId": .uuid])

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var tenantId: UUID?
        var parentGroupId: UUID?
        var quotaConfig: QuotaConfig?
        static var fieldRules: [String: FieldRule] { ["name": .name, "description": .description()] }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name"] }
        var name: String?
        var description: String?
        var parentGroupId: UUID?
        var quotaConfig: QuotaConfig?
        static var immutableFields: Set<String> { ["tenantId"] }
        static var fieldRules: [String: FieldRule] { ["name": .name, "description": .description()] }
    }

    struct AddMemberBody: RequestBody {
        var userId: UUID
        static var immutableFields: Set<String> { ["groupId", "joinedAt", "addedBy"] }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a user group", action: "user-group.create",
                  input: CreateBody.self, output: UserGroup.self, status: 201, use: create)
        routes.on(.get, "", summary: "List user groups", action: "user-group.list", output: Page<UserGroup>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a user group", action: "user-group.read", output: UserGroup.self, use: read)
        routes.on(.patch, ":id", summary: "Change a user group", action: "user-group.update",
                  input: PatchBody.self, output: UserGroup.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a user group (refused while it has child groups)",
                  action: "user-group.delete", output: EmptyBody.self, status: 204, use: delete)
        routes.on(.get, ":id/members", summary: "List a group's members", action: "user-group.members.list",
                  output: Page<UserGroupMember>.self, list: ListSpec(), use: membersList)
        routes.on(.post, ":id/members", summary: "Add a user of the group's tenant to the group",
                  action: "user-group.members.add", input: AddMemberBody.self, output: UserGroupMember.self,
                  status: 201, use: membersAdd)
        routes.on(.get, ":id/members/:userId", summary: "Get a user's membership of the group", action: "user-group.members.read",
                  output: UserGroupMember.self, use: membersRead)
        routes.on(.delete, ":id/members/:userId", summary: "Remove a user from the group",
                  action: "user-group.members.remove", output: EmptyBody.self, status: 204, use: membersRemove)
    }

    // MARK: - Route handlers

    /// Create a user group (`user-group.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .userGroup, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let tenantId: UUID
        if principal.role == .admin {
            guard let named = body.tenantId else { throw Problem.invalid(field: "tenantId", "is required: an ADMIN belongs to no tenant") }
            tenantId = named
            guard try await tenants.find(tenantId).map({ $0.status != .inactive }) == true else { throw Problem.invalid(field: "tenantId", "no such tenant") }
        } else {
            guard let own = principal.tenantId, body.tenantId == nil || body.tenantId == own else {
                throw Problem(.forbidden, detail: "Groups are created in your own tenant.",
                              errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
            }
            tenantId = own
        }
        let group = UserGroup(name: body.name, description: body.description, tenantId: tenantId,
                              parentGroupId: body.parentGroupId, quotaConfig: body.quotaConfig)
        try await checkParent(body.parentGroupId, of: group)
        try await groups.insert(group)
        context.audit.resource(group.id)
        context.audit.detail("name", .string(group.name))
        return try JSONResponse.created(group, at: "/api/v1/user-groups/\(group.id.uuidString)")
    }

    /// List user groups (`user-group.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .userGroup, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        switch principal.role {
        case .admin:
            return try JSONResponse.make(try await groups.list(parameters.query))
        case .tenantAdmin:
            parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
            return try JSONResponse.make(try await groups.list(parameters.query))
        case .operator, .user:
            // The groups the caller belongs to, in id order.
            let memberships = try await members.list(.init(
                filters: [.equal("userId", principal.userId)], page: .init(limit: PageRequest.maximumLimit)))
            var mine: [UserGroup] = []
            for membership in memberships.items {
                if let group = try await groups.find(membership.groupId) { mine.append(group) }
            }
            mine.sort { $0.id.uuidString < $1.id.uuidString }
            return try JSONResponse.make(Page(items: mine, nextCursor: nil))
        }
    }

    /// Get a user group (`user-group.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change a user group (`user-group.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var group = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("name") { group.name = try required(patch.value.name, "name") }
        if patch.has("description") { group.description = patch.value.description }
        if patch.has("quotaConfig") { group.quotaConfig = patch.value.quotaConfig }
        if patch.has("parentGroupId") {
            group.parentGroupId = patch.value.parentGroupId
            try await checkParent(group.parentGroupId, of: group)
        }
        group.updatedAt = Date()
        guard try await groups.update(group) else { throw Problem.notFound("User group") }
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(group)
    }

    /// Delete a user group (refused while it has child groups) (`user-group.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let group = try await reachable(context, .delete)
        let children = try await groups.count([.equal("parentGroupId", group.id)])
        guard children == 0 else {
            throw ConstraintViolation.stillReferenced(
                resource: "user group", by: [.init("child group", count: children, field: "userGroups.parentGroupId")])
        }
        guard try await groups.delete(group.id) else { throw Problem.notFound("User group") }
        return JSONResponse.noContent()
    }

    /// List a group's members (`user-group.members.list`).
    func membersList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let group = try await reachable(context, .read)
        var parameters = try ListParameters.parse(request, ListSpec())
        parameters.force("groupId", .uuid(group.id))
        return try JSONResponse.make(try await members.list(parameters.query))
    }

    /// Add a user of the group's tenant to the group (`user-group.members.add`).
    func membersAdd(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let group = try await reachable(context, .update)
        let body = try await request.decodeBody(AddMemberBody.self, context: context).value
        guard let user = try await users.find(body.userId), user.status != .inactive, user.tenantId == group.tenantId else {
            throw Problem.invalid(field: "userId", "no such user in this group's tenant")
        }
        let member = UserGroupMember(groupId: group.id, userId: user.id, addedBy: principal.userId)
        try await members.insert(member)
        context.audit.detail("userId", .string(user.id.uuidString))
        return try JSONResponse.created(
            member, at: "/api/v1/user-groups/\(group.id.uuidString)/members/\(user.id.uuidString)")
    }

    /// Get a user's membership of the group (`user-group.members.read`): the `Location` of `membersAdd`.
    func membersRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let group = try await reachable(context, .read)
        return try JSONResponse.make(try await membership(in: group, context))
    }

    /// The membership of the user that the path's `userId` names; 404 when the user is not a member.
    func membership(in group: UserGroup, _ context: ZedgeRequestContext) async throws -> UserGroupMember {
        let userId = try context.id("userId", resource: "Membership")
        guard let member = try await members.list(.init(filters: [.equal("groupId", group.id), .equal("userId", userId)])).items.first else {
            throw Problem.notFound("Membership")
        }
        return member
    }

    /// Remove a user from the group (`user-group.members.remove`).
    func membersRemove(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let group = try await reachable(context, .update)
        let member = try await membership(in: group, context)
        guard try await members.delete(member.id) else { throw Problem.notFound("Membership") }
        context.audit.detail("userId", .string(member.userId.uuidString))
        return JSONResponse.noContent()
    }

    /// The group if the caller may `action` it: 404 outside the caller's reach (another tenant's, or for a
    /// USER one it does not belong to), then 403 for a role without the permission.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> UserGroup {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "User group")
        context.audit.resource(id)
        return try await authorizer.reach(principal, .userGroup, action, notFound: "User group") {
            try await groups.find(id)
        } visible: { group in
            switch principal.role {
            case .admin: return true
            case .tenantAdmin: return group.tenantId == principal.tenantId
            case .operator, .user:
                guard group.tenantId == principal.tenantId else { return false }
                return try await members.count([.equal("groupId", group.id), .equal("userId", principal.userId)]) > 0
            }
        }
    }

    /// The parent must exist in the same tenant and must not be the group or one of its descendants.
    func checkParent(_ parentId: UUID?, of group: UserGroup) async throws {
        var current = parentId
        var depth = 0
        while let id = current {
            guard id != group.id else { throw Problem.invalid(field: "parentGroupId", "would make a cycle") }
            guard let parent = try await groups.find(id), parent.tenantId == group.tenantId else {
                throw Problem.invalid(field: "parentGroupId", "no such group in this tenant")
            }
            depth += 1
            guard depth <= 32 else { throw Problem.invalid(field: "parentGroupId", "groups nest at most 32 deep") }
            current = parent.parentGroupId
        }
    }
}
