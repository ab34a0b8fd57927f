import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/compute-machines` and `/api/v1/cloud-boxes`: what agents registered, readable by those who
/// may read infrastructure; a technician (OPERATOR) pre-registers CloudBoxes by serial number; an agent's
/// credential can be revoked.
public struct HostController: Sendable {
    let users: any UserRepository
    let metricSamples: any TimeSeriesRepository<MetricSample>
    let edgeDataCenters: any ModelRepository<EdgeDataCenter>
    let computeMachines: any ModelRepository<ComputeMachine>
    let cloudBoxes: any ModelRepository<CloudBox>
    let agentCredentials: any AgentCredentialRepository
    let hosts: HostService
    let authorizer: Authorizer
    let tracker: LivenessTracker
    let cachedImages: any CachedImageRepository

    /// What a machine's agent last reported its hypervisor holds.
    struct ObservedVms: Codable, Sendable {
        var reportedAt: Date?
        var items: [ObservedVm]
    }

    struct CachedImages: Codable, Sendable {
        var items: [CachedImage]
    }

    static let machineList = ListSpec(filters: [
        "status": .of(ComputeMachineStatus.self), "edgeDataCenterId": .uuid, "resourcePoolId": .uuid,
        "healthStatus": .of(HealthStatus.self), "machineType": .of(ComputeMachineType.self),
    ])
    static let metricList = ListSpec(extras: ["since": .dateTime])
    static let cloudBoxList = ListSpec(filters: [
        "status": .of(CloudBoxStatus.self), "edgeDataCenterId": .uuid, "serialNumber": .string,
    ])

    /// A technician's pre-registration of a CloudBox.
    struct CloudBoxBody: RequestBody {
        var serialNumber: String
        var edgeDataCenterId: UUID
        var name: String?
        var location: String?
        var model: String?
        var manufacturer: String?
        var assignedUserId: UUID?
        var tags: JSONValue?
        static var immutableFields: Set<String> { ["status", "lastHeartbeat", "temporaryInstanceId", "temporaryBindExpiresAt"] }
        static var fieldRules: [String: FieldRule] {
            ["serialNumber": .name, "name": .name, "location": .displayText(maxLength: 256), "model": .displayText(maxLength: 128),
             "manufacturer": .displayText(maxLength: 128)]
        }
    }

    /// What an operator may change on a machine; its size and counters are the agent's and the claims'.
    struct MachinePatch: RequestBody {
        static var nonNullFields: Set<String> { ["name", "rentalMode", "status"] }
        var name: String?
        var status: ComputeMachineStatus?
        var rentalMode: RentalMode?
        var businessIp: String?
        var tags: JSONValue?
        static var immutableFields: Set<String> {
            InfrastructureController.counters.union([
                "cpuCores", "memoryGb", "storageGb", "gpuCount", "gpuModel", "hostname", "managementIp", "edgeDataCenterId",
                "resourcePoolId", "healthStatus", "lastHeartbeat", "hypervisorType",
            ])
        }
        static var fieldRules: [String: FieldRule] {
            ["name": .name, "businessIp": .ipAddress,
             "status": .oneOf(ComputeMachineStatus.allCases.filter { $0 != .offline },
                              message: "OFFLINE is set by the coordinator when heartbeats stop; use MAINTENANCE")]
        }
    }

    public func register(machines routes: RouteRegistrar, cloudBoxes boxRoutes: RouteRegistrar) {
        routes.on(.delete, ":id", summary: "Remove a DECOMMISSIONING machine that holds no instances (pool and data center totals follow)",
                  action: "compute-machine.delete", output: EmptyBody.self, status: 204, use: computeMachineDelete)
        routes.on(.patch, ":id", summary: "Change a machine: MAINTENANCE (no new placements), DECOMMISSIONING (refused while instances remain), name, rental mode",
                  action: "compute-machine.update", input: MachinePatch.self, output: ComputeMachine.self, use: computeMachineUpdate)
        routes.on(.get, "", summary: "List compute machines", action: "compute-machine.list",
                  output: Page<ComputeMachine>.self, list: Self.machineList, use: computeMachineList)
        routes.on(.get, ":id", summary: "Get a compute machine", action: "compute-machine.read",
                  output: ComputeMachine.self, use: computeMachineRead)
        routes.on(.get, ":id/metrics", summary: "Recent metric samples of a machine, oldest first", action: "compute-machine.metrics",
                  output: Page<MetricSample>.self, list: Self.metricList, use: computeMachineMetrics)
        routes.on(.get, ":id/observed-vms", summary: "The VMs the machine's agent last reported (in memory: empty until its first heartbeat after a coordinator start)",
                  action: "compute-machine.observed-vms", output: ObservedVms.self, use: computeMachineObservedVms)
        routes.on(.get, ":id/cached-images", summary: "The verified images (by SHA-256) the machine's agent holds in its cache, as its heartbeats reported them",
                  action: "compute-machine.cached-images", output: CachedImages.self, use: computeMachineCachedImages)
        routes.on(.delete, ":id/credential", summary: "Revoke the machine's agent credential (its next call is a 401)",
                  action: "compute-machine.credential.revoke", output: EmptyBody.self, status: 204, use: computeMachineCredentialRevoke)

        boxRoutes.on(.post, "", summary: "Pre-register a CloudBox by serial number (a technician's step before its agent registers)",
                     action: "cloud-box.create", input: CloudBoxBody.self, output: CloudBox.self, status: 201, use: cloudBoxCreate)
        boxRoutes.on(.get, "", summary: "List CloudBoxes", action: "cloud-box.list",
                     output: Page<CloudBox>.self, list: Self.cloudBoxList, use: cloudBoxList)
        boxRoutes.on(.get, ":id", summary: "Get a CloudBox", action: "cloud-box.read", output: CloudBox.self, use: cloudBoxRead)
        boxRoutes.on(.get, ":id/metrics", summary: "Recent metric samples of a CloudBox, oldest first", action: "cloud-box.metrics",
                     output: Page<MetricSample>.self, list: Self.metricList, use: cloudBoxMetrics)
        boxRoutes.on(.delete, ":id/credential", summary: "Revoke the CloudBox's agent credential (its next call is a 401)",
                     action: "cloud-box.credential.revoke", output: EmptyBody.self, status: 204, use: cloudBoxCredentialRevoke)
    }

    // MARK: - Route handlers

    /// Remove a DECOMMISSIONING machine that holds no instances (pool and data center totals follow) (`compute-machine.delete`).
    func computeMachineDelete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let machine = try await machine(context, .delete)
        try await hosts.remove(machine)
        return JSONResponse.noContent()
    }

    /// Change a machine: MAINTENANCE (no new placements), DECOMMISSIONING (refused while instances remain), name, rental mode (`compute-machine.update`).
    func computeMachineUpdate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let machine = try await machine(context, .update)
        let patch = try await request.decodeBody(MachinePatch.self, context: context)
        var changes = HostService.MachineChanges()
        if patch.has("status") { changes.status = try required(patch.value.status, "status") }
        if patch.has("rentalMode") { changes.rentalMode = try required(patch.value.rentalMode, "rentalMode") }
        if patch.has("name") { changes.name = try required(patch.value.name, "name") }
        if patch.has("businessIp") { changes.businessIp = .some(patch.value.businessIp) }
        if patch.has("tags") { changes.tags = .some(patch.value.tags) }
        let updated = try await hosts.update(machine, changes)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        return try JSONResponse.make(updated)
    }

    /// List compute machines (`compute-machine.list`).
    func computeMachineList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try authorizer.require(try context.requirePrincipal(), .server, .read)
        return try JSONResponse.make(try await computeMachines.list(try ListParameters.parse(request, Self.machineList).query))
    }

    /// Get a compute machine (`compute-machine.read`).
    func computeMachineRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await machine(context, .read))
    }

    /// Recent metric samples of a machine, oldest first (`compute-machine.metrics`).
    func computeMachineMetrics(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let machine = try await machine(context, .read)
        return try JSONResponse.make(try await samples(request, computeMachineId: machine.id, cloudBoxId: nil))
    }

    /// The VMs the machine's agent last reported (in memory: empty until its first heartbeat after a coordinator start) (`compute-machine.observed-vms`).
    func computeMachineObservedVms(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let machine = try await machine(context, .read)
        let beat = tracker.latest(machine.id)
        return try JSONResponse.make(ObservedVms(reportedAt: beat?.at, items: beat?.observedVms ?? []))
    }

    /// The verified images (by SHA-256) the machine's agent holds in its cache, as its heartbeats reported
    /// them (`compute-machine.cached-images`).
    func computeMachineCachedImages(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let machine = try await machine(context, .read)
        return try JSONResponse.make(CachedImages(items: try await cachedImages.cached(on: machine.id)))
    }

    /// Revoke the machine's agent credential (its next call is a 401) (`compute-machine.credential.revoke`).
    func computeMachineCredentialRevoke(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let machine = try await machine(context, .manage)
        try await agentCredentials.revokeAll(computeMachineId: machine.id, cloudBoxId: nil, at: Date())
        return JSONResponse.noContent()
    }

    /// Pre-register a CloudBox by serial number (a technician's step before its agent registers) (`cloud-box.create`).
    func cloudBoxCreate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .server, .create)
        let body = try await request.decodeBody(CloudBoxBody.self, context: context).value
        guard try await edgeDataCenters.find(body.edgeDataCenterId) != nil else {
            throw Problem.invalid(field: "edgeDataCenterId", "no such edge data center")
        }
        if let userId = body.assignedUserId, try await users.find(userId).map({ $0.status != .inactive }) != true {
            throw Problem.invalid(field: "assignedUserId", "no such user")
        }
        let box = CloudBox(
            name: body.name ?? body.serialNumber, serialNumber: body.serialNumber, status: .offline,
            edgeDataCenterId: body.edgeDataCenterId, model: body.model, manufacturer: body.manufacturer,
            location: body.location, assignedUserId: body.assignedUserId, tags: body.tags)
        try await cloudBoxes.insert(box)
        context.audit.resource(box.id)
        context.audit.detail("serialNumber", .string(box.serialNumber))
        return try JSONResponse.created(box, at: "/api/v1/cloud-boxes/\(box.id)")
    }

    /// List CloudBoxes (`cloud-box.list`).
    func cloudBoxList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try authorizer.require(try context.requirePrincipal(), .server, .read)
        return try JSONResponse.make(try await cloudBoxes.list(try ListParameters.parse(request, Self.cloudBoxList).query))
    }

    /// Get a CloudBox (`cloud-box.read`).
    func cloudBoxRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await cloudBox(context, .read))
    }

    /// Recent metric samples of a CloudBox, oldest first (`cloud-box.metrics`).
    func cloudBoxMetrics(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let box = try await cloudBox(context, .read)
        return try JSONResponse.make(try await samples(request, computeMachineId: nil, cloudBoxId: box.id))
    }

    /// Revoke the CloudBox's agent credential (its next call is a 401) (`cloud-box.credential.revoke`).
    func cloudBoxCredentialRevoke(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let box = try await cloudBox(context, .manage)
        try await agentCredentials.revokeAll(computeMachineId: nil, cloudBoxId: box.id, at: Date())
        return JSONResponse.noContent()
    }

    func samples(_ request: Request, computeMachineId: UUID?, cloudBoxId: UUID?) async throws -> Page<MetricSample> {
        var parameters = try ListParameters.parse(request, Self.metricList)
        if let computeMachineId { parameters.force("computeMachineId", .uuid(computeMachineId)) }
        if let cloudBoxId { parameters.force("cloudBoxId", .uuid(cloudBoxId)) }
        return try await metricSamples.list(.init(filters: parameters.filters, since: parameters.date("since"), page: parameters.page))
    }

    func machine(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> ComputeMachine {
        try await authorizer.reachInfrastructure(context, .server, action, name: "Compute machine") {
            try await computeMachines.find($0)
        }
    }

    func cloudBox(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> CloudBox {
        try await authorizer.reachInfrastructure(context, .server, action, name: "CloudBox") {
            try await cloudBoxes.find($0)
        }
    }
}
