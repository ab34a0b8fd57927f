import Foundation
import Hummingbird
import SQLKit
import ZedgeCore

/// `/api/v1/compute-machines` and `/api/v1/cloud-boxes`: what agents registered, readable by those who
/// may read infrastructure; a technician (OPERATOR) pre-registers CloudBoxes by serial number; an agent's
/// credential can be revoked.
public struct HostController: Sendable {
    let store: Store
    let authorizer: Authorizer
    let tracker: LivenessTracker

    /// What a machine's agent last reported its hypervisor holds.
    struct ObservedVms: Codable, Sendable {
        var reportedAt: Date?
        var items: [ObservedVm]
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
        func validate() -> [FieldError] {
            Validate.collect(
                Validate.name(serialNumber, field: "serialNumber"),
                name.flatMap { Validate.name($0, field: "name") },
                location.flatMap { Validate.displayText($0, field: "location", maxLength: 256) },
                model.flatMap { Validate.displayText($0, field: "model", maxLength: 128) },
                manufacturer.flatMap { Validate.displayText($0, field: "manufacturer", maxLength: 128) })
        }
    }

    /// What an operator may change on a machine; its size and counters are the agent's and the claims'.
    struct MachinePatch: RequestBody {
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
        func validate() -> [FieldError] {
            var errors = Validate.collect(name.flatMap { Validate.name($0, field: "name") },
                                          businessIp.flatMap { Validate.ipAddress($0, field: "businessIp") })
            if status == .offline {
                errors.append(FieldError(field: "status", message: "OFFLINE is set by the coordinator when heartbeats stop; use MAINTENANCE"))
            }
            return errors
        }
    }

    public func register(machines routes: RouteRegistrar, cloudBoxes boxRoutes: RouteRegistrar) {
        routes.on(.delete, ":id", summary: "Remove a DECOMMISSIONING machine that holds no instances (pool and data center totals follow)",
                  action: "compute-machine.delete", output: EmptyBody.self, status: 204) { _, context in
            let machine = try await machine(context, .delete)
            guard machine.status == .decommissioning else {
                throw Problem.conflict("Only a DECOMMISSIONING machine can be removed; this one is \(machine.status.rawValue).", field: "status")
            }
            let ledger = CapacityLedger(engine: store.database.engine)
            try await store.database.transaction { db in
                try await ledger.lockTotals(poolIds: [machine.resourcePoolId], dataCenterId: machine.edgeDataCenterId, on: db)
                let live = try await db.raw("""
                    SELECT COUNT(*) AS n FROM instances WHERE compute_machine_id = \(bind: machine.id) AND status <> 'DELETED'
                    """).first()?.decode(column: "n", as: Int.self) ?? 0
                guard live == 0 else {
                    throw ConstraintViolation.stillReferenced(
                        resource: "compute machine", by: [.init("instance", count: live, field: "instances.computeMachineId")])
                }
                // What only described the machine's past goes with it; deleted instances keep their history.
                try await db.raw("UPDATE instances SET compute_machine_id = NULL WHERE compute_machine_id = \(bind: machine.id)").run()
                try await db.raw("DELETE FROM capacity_claims WHERE compute_machine_id = \(bind: machine.id) AND released_at IS NOT NULL").run()
                try await db.raw("DELETE FROM virtual_machines WHERE compute_machine_id = \(bind: machine.id)").run()
                try await db.raw("DELETE FROM host_observations WHERE id = \(bind: machine.id)").run()
                try await Table<ComputeMachine>("compute_machines").delete(machine.id, on: db)
                try await ledger.refreshTotals(poolId: machine.resourcePoolId, dataCenterId: machine.edgeDataCenterId, on: db)
            }
            return JSONResponse.noContent()
        }
        routes.on(.patch, ":id", summary: "Change a machine: MAINTENANCE (no new placements), DECOMMISSIONING (refused while instances remain), name, rental mode",
                  action: "compute-machine.update", input: MachinePatch.self, output: ComputeMachine.self) { request, context in
            var machine = try await machine(context, .update)
            let patch = try await request.decodeBody(MachinePatch.self, context: context)
            let live = try await store.instances.count([.equal("computeMachineId", machine.id)])
                - (try await store.instances.count([.equal("computeMachineId", machine.id), .init("status", .string(InstanceStatus.deleted.rawValue))]))
            if patch.has("status") {
                let status = try required(patch.value.status, "status")
                if status == .decommissioning, live > 0 {
                    throw Problem.conflict("\(live) instance(s) remain on this machine; delete or evacuate them before decommissioning it.", field: "status")
                }
                machine.status = status
            }
            if patch.has("rentalMode") {
                let mode = try required(patch.value.rentalMode, "rentalMode")
                if mode != machine.rentalMode, live > 0 {
                    throw Problem.conflict("\(live) instance(s) run on this machine; its rental mode changes only when it is empty.", field: "rentalMode")
                }
                machine.rentalMode = mode
            }
            if patch.has("name") { machine.name = try required(patch.value.name, "name") }
            if patch.has("businessIp") { machine.businessIp = patch.value.businessIp }
            if patch.has("tags") { machine.tags = patch.value.tags }
            machine.updatedAt = Date()
            // Only these columns: the allocated counters move with claims, concurrently.
            do {
                try await store.database.sql.update("compute_machines").set("name", to: machine.name)
                    .set("status", to: machine.status.rawValue).set("rental_mode", to: machine.rentalMode.rawValue)
                    .set("business_ip", to: machine.businessIp).set("tags", to: try machine.tags.map { try RowCodec.bind($0) } ?? SQLLiteral.null)
                    .set("updated_at", to: machine.updatedAt).where("id", .equal, machine.id).run()
            } catch {
                throw ConstraintViolation.map(error, resource: "compute machine", operation: .write)
            }
            context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
            return try JSONResponse.make(try await store.computeMachines.find(machine.id) ?? machine)
        }
        routes.on(.get, "", summary: "List compute machines", action: "compute-machine.list",
                  output: Page<ComputeMachine>.self, list: Self.machineList) { request, context in
            try authorizer.require(try context.requirePrincipal(), .server, .read)
            return try JSONResponse.make(try await store.computeMachines.list(try ListParameters.parse(request, Self.machineList).query))
        }
        routes.on(.get, ":id", summary: "Get a compute machine", action: "compute-machine.read",
                  output: ComputeMachine.self) { _, context in
            try JSONResponse.make(try await machine(context, .read))
        }
        routes.on(.get, ":id/metrics", summary: "Recent metric samples of a machine, oldest first", action: "compute-machine.metrics",
                  output: Page<MetricSample>.self, list: Self.metricList) { request, context in
            let machine = try await machine(context, .read)
            return try JSONResponse.make(try await samples(request, computeMachineId: machine.id, cloudBoxId: nil))
        }
        routes.on(.get, ":id/observed-vms", summary: "The VMs the machine's agent last reported (in memory: empty until its first heartbeat after a coordinator start)",
                  action: "compute-machine.observed-vms", output: ObservedVms.self) { _, context in
            let machine = try await machine(context, .read)
            let beat = tracker.latest(machine.id)
            return try JSONResponse.make(ObservedVms(reportedAt: beat?.at, items: beat?.observedVms ?? []))
        }
        routes.on(.delete, ":id/credential", summary: "Revoke the machine's agent credential (its next call is a 401)",
                  action: "compute-machine.credential.revoke", output: EmptyBody.self, status: 204) { _, context in
            let machine = try await machine(context, .manage)
            try await store.agentCredentials.revokeAll(computeMachineId: machine.id, cloudBoxId: nil, at: Date())
            return JSONResponse.noContent()
        }

        boxRoutes.on(.post, "", summary: "Pre-register a CloudBox by serial number (a technician's step before its agent registers)",
                     action: "cloud-box.create", input: CloudBoxBody.self, output: CloudBox.self, status: 201) { request, context in
            let principal = try context.requirePrincipal()
            try authorizer.require(principal, .server, .create)
            let body = try await request.decodeBody(CloudBoxBody.self, context: context).value
            guard try await store.edgeDataCenters.find(body.edgeDataCenterId) != nil else {
                throw Problem.invalid(field: "edgeDataCenterId", "no such edge data center")
            }
            if let userId = body.assignedUserId, try await store.users.find(userId) == nil {
                throw Problem.invalid(field: "assignedUserId", "no such user")
            }
            let box = CloudBox(
                name: body.name ?? body.serialNumber, serialNumber: body.serialNumber, status: .offline,
                edgeDataCenterId: body.edgeDataCenterId, model: body.model, manufacturer: body.manufacturer,
                location: body.location, assignedUserId: body.assignedUserId, tags: body.tags)
            try await store.cloudBoxes.insert(box)
            context.audit.resource(box.id)
            context.audit.detail("serialNumber", .string(box.serialNumber))
            return try JSONResponse.created(box, at: "/api/v1/cloud-boxes/\(box.id)")
        }
        boxRoutes.on(.get, "", summary: "List CloudBoxes", action: "cloud-box.list",
                     output: Page<CloudBox>.self, list: Self.cloudBoxList) { request, context in
            try authorizer.require(try context.requirePrincipal(), .server, .read)
            return try JSONResponse.make(try await store.cloudBoxes.list(try ListParameters.parse(request, Self.cloudBoxList).query))
        }
        boxRoutes.on(.get, ":id", summary: "Get a CloudBox", action: "cloud-box.read", output: CloudBox.self) { _, context in
            try JSONResponse.make(try await cloudBox(context, .read))
        }
        boxRoutes.on(.get, ":id/metrics", summary: "Recent metric samples of a CloudBox, oldest first", action: "cloud-box.metrics",
                     output: Page<MetricSample>.self, list: Self.metricList) { request, context in
            let box = try await cloudBox(context, .read)
            return try JSONResponse.make(try await samples(request, computeMachineId: nil, cloudBoxId: box.id))
        }
        boxRoutes.on(.delete, ":id/credential", summary: "Revoke the CloudBox's agent credential (its next call is a 401)",
                     action: "cloud-box.credential.revoke", output: EmptyBody.self, status: 204) { _, context in
            let box = try await cloudBox(context, .manage)
            try await store.agentCredentials.revokeAll(computeMachineId: nil, cloudBoxId: box.id, at: Date())
            return JSONResponse.noContent()
        }
    }

    func samples(_ request: Request, computeMachineId: UUID?, cloudBoxId: UUID?) async throws -> Page<MetricSample> {
        var parameters = try ListParameters.parse(request, Self.metricList)
        if let computeMachineId { parameters.force("computeMachineId", .uuid(computeMachineId)) }
        if let cloudBoxId { parameters.force("cloudBoxId", .uuid(cloudBoxId)) }
        return try await store.metricSamples.list(.init(filters: parameters.filters, since: parameters.date("since"), page: parameters.page))
    }

    func machine(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> ComputeMachine {
        try await authorizer.reachInfrastructure(context, .server, action, name: "Compute machine") {
            try await store.computeMachines.find($0)
        }
    }

    func cloudBox(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> CloudBox {
        try await authorizer.reachInfrastructure(context, .server, action, name: "CloudBox") {
            try await store.cloudBoxes.find($0)
        }
    }
}
