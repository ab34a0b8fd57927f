import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/places` (seed §4 Place): a tenant's site (a shop, a classroom) bound to at most one of its
/// subnets, whose gateway, mask and DNS servers the instances and CloudBoxes there use. Read by its tenant;
/// managed by the tenant's TENANT_ADMINs and ADMIN. UNIQUE(tenantId, name); a subnet has at most one place.
public struct PlaceController: Sendable {
    let networks: any NetworkRepository
    let tenants: any ModelRepository<Tenant>
    let service: NetworkService
    let authorizer: Authorizer

    /// The rules of a place's fields, in create and PATCH alike.
    static let rules: [String: FieldRule] = ["name": .name, "description": .description(), "location": .description()]

    static let list = ListSpec(filters: ["tenantId": .uuid, "subnetId": .uuid, "status": .of(PlaceStatus.self), "name": .string])

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var tenantId: UUID?
        var subnetId: UUID?
        var location: String?
        var status: PlaceStatus?
        static var immutableFields: Set<String> { ["createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { PlaceController.rules }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name", "status"] }
        var name: String?
        var description: String?
        var subnetId: UUID?
        var location: String?
        var status: PlaceStatus?
        static var immutableFields: Set<String> { ["tenantId", "createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { PlaceController.rules }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a place (a tenant's site, bound to at most one of its subnets)",
                  action: "place.create", input: CreateBody.self, output: Place.self, status: 201, use: create)
        routes.on(.get, "", summary: "List places", action: "place.list", output: Page<Place>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a place", action: "place.read", output: Place.self, use: read)
        routes.on(.patch, ":id", summary: "Change a place", action: "place.update", input: PatchBody.self, output: Place.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a place", action: "place.delete", output: EmptyBody.self, status: 204, use: delete)
    }

    // MARK: - Route handlers

    /// Create a place (`place.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .place, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let tenantId = try await TenantOwnership.owningTenant(body.tenantId, principal, tenants: tenants, objects: "Places")
        let place = try await service.savePlace(Place(
            name: body.name, description: body.description, tenantId: tenantId, subnetId: body.subnetId, location: body.location,
            status: body.status ?? .active, createdBy: principal.userId, updatedBy: principal.userId), isNew: true)
        context.audit.resource(place.id)
        context.audit.detail("name", .string(place.name))
        return try JSONResponse.created(place, at: "/api/v1/places/\(place.id.uuidString)")
    }

    /// List places (`place.list`): ADMIN all; everyone else its tenant's.
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .place, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        if principal.role != .admin { parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null) }
        return try JSONResponse.make(try await networks.places.list(parameters.query))
    }

    /// Get a place (`place.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change a place (`place.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var place = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        let body = patch.value
        if patch.has("name") { place.name = try required(body.name, "name") }
        if patch.has("description") { place.description = body.description }
        if patch.has("subnetId") { place.subnetId = body.subnetId }
        if patch.has("location") { place.location = body.location }
        if patch.has("status") { place.status = try required(body.status, "status") }
        place.updatedAt = Date()
        place.updatedBy = principal.userId
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(try await service.savePlace(place, isNew: false))
    }

    /// Delete a place (`place.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let place = try await reachable(context, .delete)
        try await service.deletePlace(place.id)
        return JSONResponse.noContent()
    }

    /// The place if the caller may `action` it: 404 outside the caller's tenant, then 403 by role.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Place {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Place")
        context.audit.resource(id)
        return try await authorizer.reach(principal, .place, action, notFound: "Place") {
            try await networks.places.find(id)
        } visible: { place in
            principal.role == .admin || place.tenantId == principal.tenantId
        }
    }
}
