import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/cloud-boxes/{id}` changes and actions: PATCH (disable, assign a user, rename), bind an instance's
/// console for a while, unbind, configure the network, reboot — each a task for the box's agent (202 +
/// Operation). OPERATOR and ADMIN act on every box; a USER binds and unbinds only a box assigned to it, and
/// only its own instances.
public struct CloudBoxActionController: Sendable {
    let users: any UserRepository
    let cloudBoxes: any ModelRepository<CloudBox>
    let instances: any InstanceRepository
    let service: CloudBoxService
    let hosts: HostService
    let authorizer: Authorizer

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["isDisabled", "name"] }
        var name: String?
        var location: String?
        var isDisabled: Bool?
        var assignedUserId: UUID?
        var tags: JSONValue?
        static var immutableFields: Set<String> {
            ["serialNumber", "status", "lastHeartbeat", "temporaryInstanceId", "temporaryBindExpiresAt", "networkMode", "gateway",
             "dnsServers", "subnetMask", "cpuUsagePercent", "memoryUsagePercent", "diskUsagePercent", "temperature", "uptimeSeconds"]
        }
        static var fieldRules: [String: FieldRule] { ["name": .name, "location": .displayText(maxLength: 256)] }
    }

    struct BindBody: RequestBody {
        var instanceId: UUID
        var expiresAt: Date
    }

    struct ReasonBody: RequestBody {
        var reason: String?
        static var fieldRules: [String: FieldRule] { ["reason": .displayText(maxLength: 256)] }
    }

    /// Settings as given (`networkMode` required), or `placeId`: then STATIC (`networkMode` may be left out),
    /// with the mask, gateway and DNS from the place's subnet and `ipAddress` optional.
    struct NetworkBody: RequestBody {
        var networkMode: String?
        var placeId: UUID?
        var ipAddress: String?
        var subnetMask: String?
        var gateway: String?
        var dnsServers: [String]?
        /// The address fields are IPv4 (a CloudBox's STATIC address); a netmask is one of the 32 contiguous masks.
        static var fieldRules: [String: FieldRule] {
            ["networkMode": .oneOf(strings: CloudBoxNetworkPayload.networkModes), "ipAddress": .ipv4, "gateway": .ipv4,
             "subnetMask": .oneOf(strings: (1...32).map { CloudBoxNetworkPayload.netmask(prefixLength: $0) }),
             "dnsServers": .items(0...CloudBoxNetworkPayload.maxDnsServers), "dnsServers[]": .ipAddress]
        }
        var payload: CloudBoxNetworkPayload {
            CloudBoxNetworkPayload(networkMode: networkMode ?? "", ipAddress: ipAddress, subnetMask: subnetMask, gateway: gateway,
                                   dnsServers: dnsServers ?? [])
        }
        func validate() -> [FieldError] {
            guard placeId != nil else {
                guard networkMode != nil else { return [FieldError(field: "networkMode", message: "is required unless placeId is given")] }
                return payload.validate()
            }
            var errors: [FieldError] = []
            if let mode = networkMode, mode != CloudBoxNetworkPayload.staticMode {
                errors.append(FieldError(field: "networkMode", message: "must be STATIC or left out with placeId: the place's subnet gives a static address"))
            }
            let fromSubnet = [(subnetMask != nil, "subnetMask"), (gateway != nil, "gateway"), (dnsServers != nil, "dnsServers")]
            for (given, field) in fromSubnet where given {
                errors.append(FieldError(field: field, message: "must not be given with placeId: it comes from the place's subnet"))
            }
            if let ip = ipAddress, let e = Validate.ipv4(ip, field: "ipAddress") { errors.append(e) }
            return errors
        }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.patch, ":id", summary: "Change a CloudBox: disable it, assign it to a user, rename or move it",
                  action: "cloud-box.update", input: PatchBody.self, output: CloudBox.self, use: update)
        routes.on(.post, ":id/actions/bind", summary: "Bind a RUNNING instance's console to the box until expiresAt (a disabled box refuses)",
                  action: "cloud-box.bind", input: BindBody.self, output: CloudBoxService.Accepted.self, status: 202, use: bind)
        routes.on(.post, ":id/actions/unbind", summary: "End the box's binding", action: "cloud-box.unbind", input: ReasonBody.self,
                  output: CloudBoxService.Accepted.self, status: 202, use: unbind)
        routes.on(.post, ":id/actions/configure-network",
                  summary: "Send network settings (DHCP or STATIC) to the box; with placeId, a STATIC address from the place's subnet (IPAM) with its mask, gateway and DNS",
                  action: "cloud-box.configure-network", input: NetworkBody.self, output: CloudBoxService.Accepted.self,
                  status: 202, use: configureNetwork)
        routes.on(.post, ":id/actions/reboot", summary: "Reboot the box", action: "cloud-box.reboot", input: ReasonBody.self,
                  output: CloudBoxService.Accepted.self, status: 202, use: reboot)
    }

    // MARK: - Route handlers

    /// Change a CloudBox: disable it, assign it to a user, rename or move it (`cloud-box.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var box = try await infrastructure(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("name") { box.name = try required(patch.value.name, "name") }
        if patch.has("location") { box.location = patch.value.location }
        if patch.has("isDisabled") { box.isDisabled = try required(patch.value.isDisabled, "isDisabled") }
        if patch.has("tags") { box.tags = patch.value.tags }
        if patch.has("assignedUserId") {
            if let userId = patch.value.assignedUserId, try await users.find(userId).map({ $0.status != .inactive }) != true {
                throw Problem.invalid(field: "assignedUserId", "no such user")
            }
            box.assignedUserId = patch.value.assignedUserId
        }
        let updated = try await hosts.update(box)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(updated)
    }

    /// Bind a RUNNING instance's console to the box until expiresAt (a disabled box refuses) (`cloud-box.bind`).
    func bind(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let box = try await assignedOrInfrastructure(context)
        let body = try await request.decodeBody(BindBody.self, context: context).value
        guard let instance = try await instances.find(body.instanceId), instance.status != .deleted,
              principal.role == .admin || principal.role == .operator
                || authorizer.canReach(principal, tenantId: instance.tenantId, ownerId: instance.userId) else {
            throw Problem.invalid(field: "instanceId", "no such instance")
        }
        let bound = try await service.bind(box, to: instance, until: body.expiresAt, by: principal.userId)
        context.audit.detail("instanceId", .string(instance.id.uuidString))
        return try accepted(bound, context)
    }

    /// End the box's binding (`cloud-box.unbind`).
    func unbind(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let box = try await assignedOrInfrastructure(context)
        let body = try await request.decodeBody(ReasonBody.self, context: context).value
        return try accepted(try await service.unbind(box, reason: body.reason ?? "requested", by: principal.userId), context)
    }

    /// Send network settings (DHCP or STATIC) to the box; with placeId, a STATIC address from the place's subnet
    /// (IPAM) with its mask, gateway and DNS (`cloud-box.configure-network`).
    func configureNetwork(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let box = try await infrastructure(context, .execute)
        let body = try await request.decodeBody(NetworkBody.self, context: context).value
        guard let placeId = body.placeId else {
            return try accepted(try await service.configureNetwork(box, body.payload, by: principal.userId), context)
        }
        context.audit.detail("placeId", .string(placeId.uuidString))
        let configured = try await service.configureNetwork(box, at: placeId, ipAddress: body.ipAddress.flatMap(IPAddress.init),
                                                            by: principal.userId)
        context.audit.detail("ipAddress", .string(configured.cloudBox.ipAddress ?? ""))
        return try accepted(configured, context)
    }

    /// Reboot the box (`cloud-box.reboot`).
    func reboot(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let box = try await infrastructure(context, .execute)
        let body = try await request.decodeBody(ReasonBody.self, context: context).value
        return try accepted(try await service.reboot(box, reason: body.reason, by: principal.userId), context)
    }

    func accepted(_ accepted: CloudBoxService.Accepted, _ context: ZedgeRequestContext) throws -> Response {
        context.audit.detail("operationId", .string(accepted.operation.id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted, headers: [.location: "/api/v1/operations/\(accepted.operation.id)"])
    }

    func infrastructure(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> CloudBox {
        try await authorizer.reachInfrastructure(context, .server, action, name: "CloudBox") { try await cloudBoxes.find($0) }
    }

    /// OPERATOR and ADMIN reach every box; anyone else only a box assigned to them (others are 404).
    func assignedOrInfrastructure(_ context: ZedgeRequestContext) async throws -> CloudBox {
        let principal = try context.requirePrincipal()
        if principal.role == .admin || principal.role == .operator { return try await infrastructure(context, .execute) }
        let id = try context.id(resource: "CloudBox")
        context.audit.resource(id)
        guard let box = try await cloudBoxes.find(id), box.assignedUserId == principal.userId else {
            throw Problem.notFound("CloudBox")
        }
        return box
    }
}
