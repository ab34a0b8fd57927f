import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/vpcs` (seed §4 Vpc, DESIGN §10). Everyone in a tenant reads its VPCs (their subnets are where
/// its instances go); the creator and the tenant's TENANT_ADMINs change them; ADMIN reaches all. Another
/// tenant's VPC is a 404. Only ADMIN sets `vlanId`. DELETE is a soft delete (status DELETED, the name free
/// again), refused while the VPC has subnets; a DELETED VPC answers 404 and is listed only by `?status=DELETED`.
public struct VpcController: Sendable {
    let networks: any NetworkRepository
    let tenants: any ModelRepository<Tenant>
    let service: NetworkService
    let authorizer: Authorizer

    static let list = ListSpec(filters: [
        "status": .of(VpcStatus.self), "tenantId": .uuid, "userId": .uuid, "edgeDataCenterId": .uuid, "name": .string,
    ])

    struct CreateBody: RequestBody {
        var name: String
        var description: String?
        var cidrBlock: String
        var edgeDataCenterId: UUID?
        var vlanId: Int?
        var enableDns: Bool?
        var dnsServers: [String]?
        var status: VpcStatus?
        var tenantId: UUID?
        static var immutableFields: Set<String> { ["userId", "createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { VpcController.rules }
        func validate() -> [FieldError] {
            var errors = VpcController.checkBlock(cidrBlock)
            if let dnsServers, case .failure(let e) = NetworkService.dnsServers(dnsServers, field: "dnsServers") { errors.append(e) }
            return errors
        }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["cidrBlock", "enableDns", "name", "status"] }
        var name: String?
        var description: String?
        var cidrBlock: String?
        var edgeDataCenterId: UUID?
        var vlanId: Int?
        var enableDns: Bool?
        var dnsServers: [String]?
        var status: VpcStatus?
        static var immutableFields: Set<String> { ["tenantId", "userId", "createdBy", "updatedBy"] }
        static var fieldRules: [String: FieldRule] { VpcController.rules }
        func validate() -> [FieldError] {
            var errors: [FieldError] = []
            if let cidrBlock { errors += VpcController.checkBlock(cidrBlock) }
            if let dnsServers, case .failure(let e) = NetworkService.dnsServers(dnsServers, field: "dnsServers") { errors.append(e) }
            return errors
        }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a VPC (a tenant network: one IPv4 or IPv6 CIDR block, optionally in a data center)",
                  action: "vpc.create", input: CreateBody.self, output: Vpc.self, status: 201, use: create)
        routes.on(.get, "", summary: "List VPCs", action: "vpc.list", output: Page<Vpc>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a VPC", action: "vpc.read", output: Vpc.self, use: read)
        routes.on(.patch, ":id", summary: "Change a VPC (cidrBlock, edgeDataCenterId and vlanId only while it has no subnets)",
                  action: "vpc.update", input: PatchBody.self, output: Vpc.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a VPC (status DELETED; refused while it has subnets)",
                  action: "vpc.delete", output: EmptyBody.self, status: 204, use: delete)
    }

    // MARK: - Route handlers

    /// Create a VPC (`vpc.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .network, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        if body.vlanId != nil { try Self.requireAdmin(principal, field: "vlanId") }
        let tenantId = try await TenantOwnership.owningTenant(body.tenantId, principal, tenants: tenants, objects: "VPCs")
        let dns = body.dnsServers.flatMap { try? NetworkService.dnsServers($0, field: "dnsServers").get() }
        let vpc = try await service.createVpc(Vpc(
            name: body.name, description: body.description, tenantId: tenantId, userId: principal.userId, cidrBlock: body.cidrBlock,
            edgeDataCenterId: body.edgeDataCenterId, vlanId: body.vlanId, enableDns: body.enableDns ?? true,
            dnsServers: dns.map { .array($0.map { .string($0) }) }, status: body.status ?? .active, createdBy: principal.userId))
        context.audit.resource(vpc.id)
        context.audit.detail("name", .string(vpc.name))
        return try JSONResponse.created(vpc, at: "/api/v1/vpcs/\(vpc.id.uuidString)")
    }

    /// List VPCs (`vpc.list`): ADMIN all; everyone else its tenant's.
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .network, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        if principal.role != .admin { parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null) }
        parameters.hideSoftDeleted(VpcStatus.deleted.rawValue)
        return try JSONResponse.make(try await networks.vpcs.list(parameters.query))
    }

    /// Get a VPC (`vpc.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change a VPC (`vpc.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var vpc = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("vlanId") { try Self.requireAdmin(principal, field: "vlanId") }
        let body = patch.value
        if patch.has("name") { vpc.name = try required(body.name, "name") }
        if patch.has("description") { vpc.description = body.description }
        if patch.has("cidrBlock") { vpc.cidrBlock = try required(body.cidrBlock, "cidrBlock") }
        if patch.has("edgeDataCenterId") { vpc.edgeDataCenterId = body.edgeDataCenterId }
        if patch.has("vlanId") { vpc.vlanId = body.vlanId }
        if patch.has("enableDns") { vpc.enableDns = try required(body.enableDns, "enableDns") }
        if patch.has("dnsServers") {
            vpc.dnsServers = try body.dnsServers.map { .array(try NetworkService.dnsServers($0, field: "dnsServers").get().map { .string($0) }) }
        }
        if patch.has("status") { vpc.status = try required(body.status, "status") }
        vpc.updatedAt = Date()
        vpc.updatedBy = principal.userId
        let saved = try await service.updateVpc(vpc, fields: patch.presentFields)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(saved)
    }

    /// Delete a VPC (status DELETED; refused while it has subnets) (`vpc.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let vpc = try await reachable(context, .delete)
        try await service.deleteVpc(vpc.id, by: principal.userId)
        return JSONResponse.noContent()
    }

    /// The VPC if the caller may `action` it: everyone in its tenant reads it; changing it takes its creator, a
    /// TENANT_ADMIN of its tenant or ADMIN. 404 outside the caller's tenant or when DELETED, then 403.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> Vpc {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "VPC")
        context.audit.resource(id)
        let vpc = try await authorizer.reach(principal, .network, action, notFound: "VPC") {
            try await networks.vpcs.find(id)
        } visible: { vpc in
            vpc.status != .deleted && (principal.role == .admin || vpc.tenantId == principal.tenantId)
        }
        if action != .read, !authorizer.canReach(principal, tenantId: vpc.tenantId, ownerId: vpc.userId) {
            throw Problem(.forbidden, detail: "Only the VPC's creator or a TENANT_ADMIN of its tenant may change it.")
        }
        return vpc
    }

    /// The rules of a VPC's fields, in create and PATCH alike. DELETED is what DELETE makes.
    static let rules: [String: FieldRule] = [
        "name": .name, "description": .description(), "vlanId": .vlanId, "cidrBlock": .cidr,
        "dnsServers": .items(0...NetworkService.maximumDnsServers), "dnsServers[]": .ipAddress,
        "status": .oneOf([VpcStatus.active, .disabled], message: "must be ACTIVE or DISABLED (DELETE deletes)"),
    ]

    /// A VPC's `cidrBlock`: canonical, no special-use block, at most an IPv4 /8 or IPv6 /32.
    static func checkBlock(_ cidrBlock: String) -> [FieldError] {
        switch NetworkService.canonicalBlock(cidrBlock, field: "cidrBlock") {
        case .failure(let e): [e]
        case .success(let block): [NetworkService.sizeProblem(block, limit: NetworkService.largestVpc, field: "cidrBlock")].compactMap { $0 }
        }
    }

    /// 403 naming `field` unless the caller is ADMIN (VLANs separate tenants: only ADMIN hands them out).
    static func requireAdmin(_ principal: Principal, field: String) throws {
        guard principal.role == .admin else {
            throw Problem(.forbidden, detail: "Only an ADMIN may set \(field).",
                          errors: [FieldError(field: field, message: "may be set by an ADMIN only")])
        }
    }
}
