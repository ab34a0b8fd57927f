import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/ip-addresses` (seed §4 IpAddress, DESIGN §10): IPAM by hand. POST allocates the lowest free
/// address of a subnet, or the one asked for, or a range (`rangeSize`); DELETE releases it into the FROZEN
/// cool-down. Rows exist only for addresses that are or were held. Reached through the subnet's tenant;
/// changed by the one who allocated it, a TENANT_ADMIN of the tenant or ADMIN.
public struct IpAddressController: Sendable {
    let networks: any NetworkRepository
    let addresses: any IpAddressRepository
    let instances: any InstanceRepository
    let ipam: IpamService
    let authorizer: Authorizer

    static let list = ListSpec(filters: [
        "subnetId": .uuid, "status": .of(IpAddressStatus.self), "instanceId": .uuid, "ipAddress": .string, "ipPoolId": .uuid,
        "allocatedBy": .uuid, "isRangeStart": .bool,
    ])

    /// The longest range one row may hold.
    static let rangeSizes = 1...65_536

    /// The rules of an address's fields, in create and PATCH alike. FREE is what DELETE makes.
    static let rules: [String: FieldRule] = [
        "ipAddress": .ipAddress, "macAddress": .macAddress, "rangeSize": .integer(rangeSizes),
        "status": .oneOf([IpAddressStatus.allocated, .reserved], message: "must be ALLOCATED or RESERVED (DELETE releases)"),
    ]

    struct CreateBody: RequestBody {
        var subnetId: UUID
        var ipAddress: String?
        var status: IpAddressStatus?
        var instanceId: UUID?
        var macAddress: String?
        var rangeSize: Int?
        var leaseExpiresAt: Date?
        var tags: JSONValue?
        static var fieldRules: [String: FieldRule] { IpAddressController.rules }
        static var immutableFields: Set<String> { ["ipPoolId", "allocatedAt", "allocatedBy", "isRangeStart"] }
        func validate() -> [FieldError] {
            var errors: [FieldError] = []
            if let leaseExpiresAt, leaseExpiresAt <= Date() {
                errors.append(FieldError(field: "leaseExpiresAt", message: "must be in the future"))
            }
            return errors
        }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["status"] }
        var status: IpAddressStatus?
        var leaseExpiresAt: Date?
        var macAddress: String?
        var tags: JSONValue?
        static var fieldRules: [String: FieldRule] { IpAddressController.rules }
        static var immutableFields: Set<String> {
            ["ipAddress", "subnetId", "ipPoolId", "instanceId", "allocatedAt", "allocatedBy", "isRangeStart", "rangeSize"]
        }
        func validate() -> [FieldError] {
            var errors: [FieldError] = []
            if let leaseExpiresAt, leaseExpiresAt <= Date() {
                errors.append(FieldError(field: "leaseExpiresAt", message: "must be in the future"))
            }
            return errors
        }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Allocate an address (the lowest free one, the one asked for, or a range) in a subnet",
                  action: "ip-address.create", input: CreateBody.self, output: IpAddress.self, status: 201, use: create)
        routes.on(.get, "", summary: "List IP addresses (only held or once-held addresses have rows)", action: "ip-address.list",
                  output: Page<IpAddress>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get an IP address", action: "ip-address.read", output: IpAddress.self, use: read)
        routes.on(.patch, ":id", summary: "Change a held address: status (ALLOCATED or RESERVED), lease, MAC, tags",
                  action: "ip-address.update", input: PatchBody.self, output: IpAddress.self, use: update)
        routes.on(.delete, ":id", summary: "Release an address: FROZEN for the cool-down, then AVAILABLE (an instance's is released by deleting the instance)",
                  action: "ip-address.delete", output: IpAddress.self, use: delete)
    }

    // MARK: - Route handlers

    /// Allocate an address (`ip-address.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .network, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        guard let tenantId = try await networks.tenantOf(subnetId: body.subnetId),
              principal.role == .admin || tenantId == principal.tenantId else {
            throw Problem.invalid(field: "subnetId", "no such subnet")
        }
        if let instanceId = body.instanceId {
            guard let instance = try await instances.find(instanceId), instance.tenantId == tenantId,
                  authorizer.canReach(principal, tenantId: instance.tenantId, ownerId: instance.userId) else {
                throw Problem.invalid(field: "instanceId", "no such instance in the subnet's tenant")
            }
        }
        let row = try await ipam.allocate(IpamService.Allocation(
            subnetId: body.subnetId, ipAddress: body.ipAddress.flatMap(IPAddress.init), status: body.status ?? .allocated,
            instanceId: body.instanceId, macAddress: body.macAddress.flatMap(MACAddress.init)?.description, rangeSize: body.rangeSize ?? 1,
            leaseExpiresAt: body.leaseExpiresAt, tags: body.tags, allocatedBy: principal.userId), now: Date())
        context.audit.resource(row.id)
        context.audit.detail("ipAddress", .string(row.ipAddress))
        return try JSONResponse.created(row, at: "/api/v1/ip-addresses/\(row.id.uuidString)")
    }

    /// List IP addresses (`ip-address.list`): ADMIN all; everyone else its tenant's subnets'.
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .network, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        if let i = parameters.filters.firstIndex(where: { $0.property == "ipAddress" }), case .string(let text) = parameters.filters[i].value,
           let ip = IPAddress(text) {
            parameters.filters[i].value = .string(ip.description)  // rows hold canonical text
        }
        if principal.role != .admin, principal.tenantId == nil { return try JSONResponse.make(Page<IpAddress>(items: [], nextCursor: nil)) }
        return try JSONResponse.make(try await addresses.list(parameters.query, tenantId: principal.role == .admin ? nil : principal.tenantId))
    }

    /// Get an IP address (`ip-address.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Change a held address (`ip-address.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let row = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        let body = patch.value
        var change = IpamService.Change()
        if patch.has("status") { change.status = try required(body.status, "status") }
        if patch.has("leaseExpiresAt") { change.leaseExpiresAt = .some(body.leaseExpiresAt) }
        if patch.has("macAddress") { change.macAddress = .some(body.macAddress.flatMap(MACAddress.init)?.description) }
        if patch.has("tags") { change.tags = .some(body.tags) }
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(try await ipam.update(row.id, change, now: Date()))
    }

    /// Release an address (`ip-address.delete`): 200 with the row, now FROZEN (or AVAILABLE with no cool-down).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let row = try await reachable(context, .delete)
        return try JSONResponse.make(try await ipam.release(row.id, now: Date()))
    }

    /// The row if the caller may `action` it: read by the subnet's tenant; changed by its allocator, a
    /// TENANT_ADMIN of the tenant or ADMIN. 404 outside the caller's tenant, then 403.
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> IpAddress {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "IP address")
        context.audit.resource(id)
        var tenantId: UUID? = nil
        let row = try await authorizer.reach(principal, .network, action, notFound: "IP address") {
            try await addresses.find(id)
        } visible: { row in
            tenantId = try await networks.tenantOf(subnetId: row.subnetId)
            return principal.role == .admin || (tenantId != nil && tenantId == principal.tenantId)
        }
        if action != .read, !authorizer.canReach(principal, tenantId: tenantId, ownerId: row.allocatedBy) {
            throw Problem(.forbidden, detail: "Only the one who allocated the address or a TENANT_ADMIN of its tenant may change it.")
        }
        return row
    }
}
