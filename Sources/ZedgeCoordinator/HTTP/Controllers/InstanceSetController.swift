import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/instance-sets` and `/{id}/members`: named groups of one tenant's instances, started and stopped
/// together (one Operation, a step per member). Reach follows the tenant: a USER reaches the sets it owns.
/// DELETE is a soft delete (status DELETED, the seed's InstanceSetStatus): a DELETED set answers 404 on every
/// route and is listed only by `?status=DELETED`; its name stays taken.
public struct InstanceSetController: Sendable {
    let tenants: any ModelRepository<Tenant>
    let userGroups: any ModelRepository<UserGroup>
    let instances: any InstanceRepository
    let instanceSets: any ModelRepository<InstanceSet>
    let instanceSetMembers: any ModelRepository<InstanceSetMember>
    let service: InstanceService
    let authorizer: Authorizer

    /// The rules of a set's fields, in create and PATCH alike. DELETED is what DELETE makes.
    static let rules: [String: FieldRule] = [
        "name": .name, "description": .description(),
        "status": .oneOf([InstanceSetStatus.active, .archived], message: "must be ACTIVE or ARCHIVED (DELETE deletes)"),
    ]

    static let list = ListSpec(filters: ["status": .of(InstanceSetStatus.self), "tenantId": .uuid, "setType": .of(InstanceSetType.self)])

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var setType: InstanceSetType?
        var tenantId: UUID?
        var userGroupId: UUID?
        var tags: JSONValue?
        /// ACTIVE unless given; ARCHIVED too, as PATCH allows (create accepts what PATCH accepts).
        var status: InstanceSetStatus?
        static var immutableFields: Set<String> { ["ownerId", "createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { InstanceSetController.rules }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name", "status"] }
        var name: String?
        var description: String?
        var status: InstanceSetStatus?
        var tags: JSONValue?
        static var immutableFields: Set<String> { ["ownerId", "tenantId", "createdBy", "updatedBy", "setType"] }
        static var fieldRules: [String: FieldRule] { InstanceSetController.rules }
    }

    struct MemberBody: RequestBody {
        var instanceId: UUID
        var role: String?
        static var immutableFields: Set<String> { ["setId", "joinedAt", "addedBy"] }
        static var fieldRules: [String: FieldRule] { ["role": .name] }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create an instance set", action: "instance-set.create", input: CreateBody.self,
                  output: InstanceSet.self, status: 201, use: create)
        routes.on(.get, "", summary: "List instance sets", action: "instance-set.list", output: Page<InstanceSet>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get an instance set", action: "instance-set.read", output: InstanceSet.self, use: read)
        routes.on(.patch, ":id", summary: "Change an instance set", action: "instance-set.update", input: PatchBody.self,
                  output: InstanceSet.self, use: update)
        routes.on(.delete, ":id", summary: "Delete an instance set: its status becomes DELETED (its instances stay)",
                  action: "instance-set.delete", output: EmptyBody.self, status: 204, use: delete)
        routes.on(.get, ":id/members", summary: "List a set's members", action: "instance-set.members.list",
                  output: Page<InstanceSetMember>.self, list: ListSpec(), use: membersList)
        routes.on(.post, ":id/members", summary: "Add an instance of the set's tenant (409 if it is already a member)",
                  action: "instance-set.members.add", input: MemberBody.self, output: InstanceSetMember.self, status: 201, use: membersAdd)
        routes.on(.get, ":id/members/:memberId", summary: "Get a member of a set", action: "instance-set.members.read",
                  output: InstanceSetMember.self, use: membersRead)
        routes.on(.delete, ":id/members/:memberId", summary: "Remove a member (the instance stays)", action: "instance-set.members.remove",
                  output: EmptyBody.self, status: 204, use: membersRemove)
        routes.on(.post, ":id/actions/:action", summary: "start or stop every member (202: one Operation, a step per member)",
                  action: "instance-set.action", output: ZedgeCore.Operation.self, status: 202, use: action)
    }

    // MARK: - Route handlers

    /// Create an instance set (`instance-set.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .instanceSet, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let tenantId: UUID
        if principal.role == .admin {
            guard let named = body.tenantId ?? principal.tenantId else {
                throw Problem.invalid(field: "tenantId", "is required: an ADMIN belongs to no tenant")
            }
            tenantId = named
            guard try await tenants.find(tenantId).map({ $0.status != .inactive }) == true else { throw Problem.invalid(field: "tenantId", "no such tenant") }
        } else {
            guard let own = principal.tenantId, body.tenantId == nil || body.tenantId == own else {
                throw Problem(.forbidden, detail: "Instance sets are created in your own tenant.",
                              errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
            }
            tenantId = own
        }
        if let groupId = body.userGroupId {
            guard let group = try await userGroups.find(groupId), group.tenantId == tenantId else {
                throw Problem.invalid(field: "userGroupId", "no such group in this tenant")
            }
        }
        let set = InstanceSet(name: body.name, description: body.description, ownerId: principal.userId, tenantId: tenantId,
                              userGroupId: body.userGroupId, setType: body.setType ?? .custom, status: body.status ?? .active, tags: body.tags,
                              createdBy: principal.userId, updatedBy: principal.userId)
        try await instanceSets.insert(set)
        context.audit.resource(set.id)
        return try JSONResponse.created(set, at: "/api/v1/instance-sets/\(set.id)")
    }

    /// List instance sets (`instance-set.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .instanceSet, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        switch principal.role {
        case .admin: break
        case .tenantAdmin: parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
        case .operator, .user: parameters.force("ownerId", .uuid(principal.userId))
        }
        parameters.hideSoftDeleted(InstanceSetStatus.deleted.rawValue)
        return try JSONResponse.make(try await instanceSets.list(parameters.query))
    }

    /// Get an instance set (`instance-set.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change an instance set (`instance-set.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var set = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("name") { set.name = try required(patch.value.name, "name") }
        if patch.has("description") { set.description = patch.value.description }
        if patch.has("status") { set.status = try required(patch.value.status, "status") }
        if patch.has("tags") { set.tags = patch.value.tags }
        set.updatedBy = principal.userId
        set.updatedAt = Date()
        guard try await instanceSets.update(set) else { throw Problem.notFound("Instance set") }
        return try JSONResponse.make(set)
    }

    /// Delete an instance set: its status becomes DELETED (its instances stay) (`instance-set.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var set = try await reachable(context, .delete)
        set.status = .deleted
        set.updatedBy = try context.requirePrincipal().userId
        set.updatedAt = Date()
        guard try await instanceSets.update(set) else { throw Problem.notFound("Instance set") }
        return JSONResponse.noContent()
    }

    /// List a set's members (`instance-set.members.list`).
    func membersList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let set = try await reachable(context, .read)
        var parameters = try ListParameters.parse(request, ListSpec())
        parameters.force("setId", .uuid(set.id))
        return try JSONResponse.make(try await instanceSetMembers.list(parameters.query))
    }

    /// Get a member of a set (`instance-set.members.read`): the `Location` of `membersAdd`.
    func membersRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let set = try await reachable(context, .read)
        return try JSONResponse.make(try await member(of: set, context))
    }

    /// The set's member that the path's `memberId` names; 404 for a member of another set.
    func member(of set: InstanceSet, _ context: ZedgeRequestContext) async throws -> InstanceSetMember {
        guard let memberId = context.parameters.get("memberId", as: UUID.self),
              let member = try await instanceSetMembers.find(memberId), member.setId == set.id else {
            throw Problem.notFound("Member")
        }
        return member
    }

    /// Add an instance of the set's tenant (409 if it is already a member) (`instance-set.members.add`).
    func membersAdd(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let set = try await reachable(context, .update)
        let body = try await request.decodeBody(MemberBody.self, context: context).value
        guard let instance = try await instances.find(body.instanceId), instance.tenantId == set.tenantId,
              instance.status != .deleted, authorizer.canReach(principal, tenantId: instance.tenantId, ownerId: instance.userId) else {
            throw Problem.invalid(field: "instanceId", "no such instance in this set's tenant")
        }
        let member = InstanceSetMember(setId: set.id, instanceId: instance.id, role: body.role ?? "member", addedBy: principal.userId)
        try await instanceSetMembers.insert(member)
        context.audit.detail("instanceId", .string(instance.id.uuidString))
        return try JSONResponse.created(member, at: "/api/v1/instance-sets/\(set.id)/members/\(member.id)")
    }

    /// Remove a member (the instance stays) (`instance-set.members.remove`).
    func membersRemove(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let set = try await reachable(context, .update)
        let member = try await member(of: set, context)
        _ = try await instanceSetMembers.delete(member.id)
        return JSONResponse.noContent()
    }

    /// start or stop every member (202: one Operation, a step per member) (`instance-set.action`).
    func action(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        guard let name = context.parameters.get("action"), let action = InstanceAction(rawValue: name),
              action == .start || action == .stop else { throw Problem.notFound("Action") }
        let set = try await reachable(context, .execute)
        try authorizer.require(principal, .instance, .execute)
        let members = try await allPages { try await instanceSetMembers.list(.init(filters: [.equal("setId", set.id)], page: $0)) }
        let operation = try await service.bulk(action, instances: members.map(\.instanceId), setId: set.id, tenantId: set.tenantId, by: principal)
        context.audit.detail("operationId", .string(operation.id.uuidString))
        return try JSONResponse.make(operation, status: .accepted, headers: [.location: "/api/v1/operations/\(operation.id)"])
    }

    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> InstanceSet {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Instance set")
        context.audit.resource(id)
        let set = try await authorizer.reach(principal, .instanceSet, action, notFound: "Instance set") {
            try await instanceSets.find(id)
        } visible: { set in
            set.status != .deleted && authorizer.canReach(principal, tenantId: set.tenantId, ownerId: set.ownerId)
        }
        return set
    }
}
