import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/subnets` (seed §4 Subnet, DESIGN §10). A subnet belongs to its VPC: it is read by the VPC's
/// tenant and changed by whoever may change the VPC. Creating one makes its IP_ADDRESS resource pool (whose
/// `ipPoolConfig` counts the addresses) and, for a tenant without a VLAN, gives the tenant one. Only ADMIN
/// sets `vlanId`. DELETE is refused while any address is ALLOCATED or RESERVED.
public struct SubnetController: Sendable {
    let networks: any NetworkRepository
    let service: NetworkService
    let authorizer: Authorizer

    /// The rules of a subnet's fields, in create and PATCH alike.
    static let rules: [String: FieldRule] = [
        "name": .name, "availabilityZone": .name, "vlanId": .vlanId, "gateway": .ipAddress, "cidrBlock": .cidr,
    ]

    static let list = ListSpec(filters: [
        "vpcId": .uuid, "status": .of(SubnetStatus.self), "name": .string, "cidrBlock": .string, "ipPoolId": .uuid,
    ])

    struct CreateBody: RequestBody {
        var name: String
        var vpcId: UUID
        var cidrBlock: String
        var availabilityZone: String?
        var gateway: String?
        var vlanId: Int?
        var isPublic: Bool?
        var autoAssignIp: Bool?
        var status: SubnetStatus?
        static var immutableFields: Set<String> { ["ipPoolId", "createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { SubnetController.rules }
        func validate() -> [FieldError] {
            var errors: [FieldError] = []
            switch NetworkService.canonicalBlock(cidrBlock, field: "cidrBlock") {
            case .failure(let e): errors.append(e)
            case .success(let block):
                if let e = NetworkService.sizeProblem(block, limit: NetworkService.largestSubnet, field: "cidrBlock") { errors.append(e) }
            }
            return errors
        }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["autoAssignIp", "isPublic", "name", "status"] }
        var name: String?
        var availabilityZone: String?
        var gateway: String?
        var isPublic: Bool?
        var autoAssignIp: Bool?
        var status: SubnetStatus?
        static var immutableFields: Set<String> { ["vpcId", "cidrBlock", "vlanId", "ipPoolId", "createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { SubnetController.rules }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a subnet of a VPC, with its IP address pool (the VPC needs an edgeDataCenterId)",
                  action: "subnet.create", input: CreateBody.self, output: Subnet.self, status: 201, use: create)
        routes.on(.get, "", summary: "List subnets", action: "subnet.list", output: Page<Subnet>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a subnet", action: "subnet.read", output: Subnet.self, use: read)
        routes.on(.patch, ":id", summary: "Change a subnet (cidrBlock, vpcId and vlanId are fixed)",
                  action: "subnet.update", input: PatchBody.self, output: Subnet.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a subnet and its pool (refused while addresses are ALLOCATED or RESERVED)",
                  action: "subnet.delete", output: EmptyBody.self, status: 204, use: delete)
    }

    // MARK: - Route handlers

    /// Create a subnet (`subnet.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .network, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        if body.vlanId != nil { try VpcController.requireAdmin(principal, field: "vlanId") }
        guard let vpc = try await networks.vpcs.find(body.vpcId), vpc.status != .deleted,
              principal.role == .admin || vpc.tenantId == principal.tenantId else {
            throw Problem.invalid(field: "vpcId", "no such VPC")
        }
        guard authorizer.canReach(principal, tenantId: vpc.tenantId, ownerId: vpc.userId) else {
            throw Problem(.forbidden, detail: "Only the VPC's creator or a TENANT_ADMIN of its tenant may add subnets to it.",
                          errors: [FieldError(field: "vpcId", message: "is not yours to change")])
        }
        let gateway = body.gateway.flatMap(IPAddress.init)?.description
        let subnet = try await service.createSubnet(Subnet(
            name: body.name, vpcId: vpc.id, cidrBlock: body.cidrBlock, availabilityZone: body.availabilityZone, gateway: gateway,
            vlanId: body.vlanId, isPublic: body.isPublic ?? false, autoAssignIp: body.autoAssignIp ?? true, status: body.status ?? .active,
            createdBy: principal.userId, updatedBy: principal.userId))
        context.audit.resource(subnet.id)
        context.audit.detail("cidrBlock", .string(subnet.cidrBlock))
        return try JSONResponse.created(subnet, at: "/api/v1/subnets/\(subnet.id.uuidString)")
    }

    /// List subnets (`subnet.list`): ADMIN all; everyone else its tenant's.
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .network, .read)
        let parameters = try ListParameters.parse(request, Self.list)
        if principal.role != .admin, principal.tenantId == nil { return try JSONResponse.make(Page<Subnet>(items: [], nextCursor: nil)) }
        return try JSONResponse.make(try await networks.listSubnets(parameters.query, tenantId: principal.role == .admin ? nil : principal.tenantId))
    }

    /// Get a subnet (`subnet.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change a subnet (`subnet.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var subnet = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        let body = patch.value
        if patch.has("name") { subnet.name = try required(body.name, "name") }
        if patch.has("availabilityZone") { subnet.availabilityZone = body.availabilityZone }
        if patch.has("gateway") { subnet.gateway = body.gateway.flatMap(IPAddress.init)?.description }
        if patch.has("isPublic") { subnet.isPublic = try required(body.isPublic, "isPublic") }
        if patch.has("autoAssignIp") { subnet.autoAssignIp = try required(body.autoAssignIp, "autoAssignIp") }
        if patch.has("status") { subnet.status = try required(body.status, "status") }
        subnet.updatedAt = Date()
        subnet.updatedBy = principal.userId
        let saved = try await service.updateSubnet(subnet, fields: patch.presentFields)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(saved)
    }

    /// Delete a subnet and its pool (`subnet.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let subnet = try await reachable(context, .delete)
        try await service.deleteSubnet(subnet.id)
        return JSONResponse.noContent()
    }

    /// The subnet if the caller may `action` it, by its VPC: read by the VPC's tenant, changed by whoever may
    /// change the VPC. 404 outside the caller's tenant, then 403.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Subnet {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Subnet")
        context.audit.resource(id)
        var owner: Vpc? = nil
        let subnet = try await authorizer.reach(principal, .network, action, notFound: "Subnet") {
            try await networks.subnets.find(id)
        } visible: { subnet in
            owner = try await networks.vpcs.find(subnet.vpcId)
            return principal.role == .admin || owner?.tenantId == principal.tenantId
        }
        if action != .read, let owner, !authorizer.canReach(principal, tenantId: owner.tenantId, ownerId: owner.userId) {
            throw Problem(.forbidden, detail: "Only the VPC's creator or a TENANT_ADMIN of its tenant may change its subnets.")
        }
        return subnet
    }
}
