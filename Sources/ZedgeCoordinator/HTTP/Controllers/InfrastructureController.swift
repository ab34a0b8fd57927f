import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/edge-data-centers` and `/api/v1/resource-pools`: OPERATOR and ADMIN write, every role reads.
/// Totals and allocations are the coordinator's to keep (sums over machines), never a client's to set.
/// A subnet's IP_ADDRESS pool is tenant data: a TENANT_ADMIN or USER sees only its own tenant's (another's is
/// a 404), and nobody changes or deletes one here: it is made, counted and removed with its subnet.
public struct InfrastructureController: Sendable {
    let dataCenters: any ModelRepository<EdgeDataCenter>
    let pools: any ModelRepository<ResourcePool>
    let networks: any NetworkRepository
    let storagePools: StoragePools
    let authorizer: Authorizer

    static let counters: Set<String> = [
        "totalCpuCores", "totalMemoryGb", "totalStorageGb", "totalGpuCount",
        "allocatedCpuCores", "allocatedMemoryGb", "allocatedStorageGb", "allocatedGpuCount",
    ]
    static let dataCenterList = ListSpec(filters: ["status": .of(EdgeDataCenterStatus.self), "name": .string])
    static let poolList = ListSpec(filters: [
        "status": .of(ResourcePoolStatus.self), "edgeDataCenterId": .uuid, "poolType": .of(ResourcePoolType.self),
    ])

    struct DataCenterBody: RequestBody {
        var name: String
        var location: String?
        var status: EdgeDataCenterStatus?
        var networkConfig: JSONValue?
        static var immutableFields: Set<String> { InfrastructureController.counters }
        static var fieldRules: [String: FieldRule] { InfrastructureController.dataCenterRules }
    }

    struct DataCenterPatch: RequestBody {
        static var nonNullFields: Set<String> { ["name", "status"] }
        var name: String?
        var location: String?
        var status: EdgeDataCenterStatus?
        var networkConfig: JSONValue?
        static var immutableFields: Set<String> { InfrastructureController.counters }
        static var fieldRules: [String: FieldRule] { InfrastructureController.dataCenterRules }
    }

    struct PoolBody: RequestBody {
        var name: String
        var description: String?
        var edgeDataCenterId: UUID
        var poolType: ResourcePoolType?
        var schedulingPolicy: String?
        var status: ResourcePoolStatus?
        var ipPoolConfig: JSONValue?
        /// A STORAGE pool's Ceph cluster (required for STORAGE, refused for other types).
        var storageConfig: StorageConfig?
        /// A STORAGE pool's cephx key: write-only, kept apart, never returned.
        var cephKey: String?
        static var immutableFields: Set<String> { InfrastructureController.counters.union(["subnetId"]) }
        func validate() -> [FieldError] {
            InfrastructureController.checkStorage(poolType: poolType ?? .compute, storageConfig: storageConfig, cephKey: cephKey,
                                                            creating: true)
        }
        static var fieldRules: [String: FieldRule] { InfrastructureController.poolRules }
    }

    struct PoolPatch: RequestBody {
        static var nonNullFields: Set<String> { ["cephKey", "name", "schedulingPolicy", "status", "storageConfig"] }
        var name: String?
        var description: String?
        var schedulingPolicy: String?
        var status: ResourcePoolStatus?
        var ipPoolConfig: JSONValue?
        var storageConfig: StorageConfig?
        /// A new cephx key for a STORAGE pool (write-only).
        var cephKey: String?
        static var immutableFields: Set<String> { InfrastructureController.counters.union(["subnetId", "edgeDataCenterId", "poolType"]) }
        static var fieldRules: [String: FieldRule] { InfrastructureController.poolRules }
        func validate() -> [FieldError] { storageConfig?.validate(field: "storageConfig") ?? [] }
    }

    /// A STORAGE pool needs `storageConfig` and `cephKey` when it is made; other pool types take neither.
    static func checkStorage(poolType: ResourcePoolType, storageConfig: StorageConfig?, cephKey: String?, creating: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        guard poolType == .storage else {
            if storageConfig != nil { errors.append(FieldError(field: "storageConfig", message: "is only for STORAGE pools")) }
            if cephKey != nil { errors.append(FieldError(field: "cephKey", message: "is only for STORAGE pools")) }
            return errors
        }
        if let storageConfig {
            errors += storageConfig.validate(field: "storageConfig")
        } else if creating {
            errors.append(FieldError(field: "storageConfig", message: "is required for a STORAGE pool: {monitors, rbdPool, cephUser}"))
        }
        if cephKey == nil, creating {
            errors.append(FieldError(field: "cephKey", message: "is required for a STORAGE pool: the cephx key of storageConfig.cephUser"))
        }
        return errors
    }

    static let dataCenterRules: [String: FieldRule] = ["name": .name, "location": .displayText(maxLength: 256)]

    static let poolRules: [String: FieldRule] = [
        "name": .name, "description": .description(),
        "schedulingPolicy": .oneOf(strings: [SchedulingPolicyName.loadBalance, SchedulingPolicyName.binPack]),
        "cephKey": StoragePools.keyRule,
    ]

    public func register(dataCenters routes: RouteRegistrar, pools poolRoutes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create an edge data center", action: "edge-data-center.create",
                  input: DataCenterBody.self, output: EdgeDataCenter.self, status: 201, use: edgeDataCenterCreate)
        routes.on(.get, "", summary: "List edge data centers", action: "edge-data-center.list",
                  output: Page<EdgeDataCenter>.self, list: Self.dataCenterList, use: edgeDataCenterList)
        routes.on(.get, ":id", summary: "Get an edge data center", action: "edge-data-center.read",
                  output: EdgeDataCenter.self, use: edgeDataCenterRead)
        routes.on(.patch, ":id", summary: "Change an edge data center", action: "edge-data-center.update",
                  input: DataCenterPatch.self, output: EdgeDataCenter.self, use: edgeDataCenterUpdate)
        routes.on(.delete, ":id", summary: "Delete an edge data center (refused while it holds pools or machines)",
                  action: "edge-data-center.delete", output: EmptyBody.self, status: 204, use: edgeDataCenterDelete)

        poolRoutes.on(.post, "", summary: "Create a resource pool in an edge data center", action: "resource-pool.create",
                      input: PoolBody.self, output: ResourcePool.self, status: 201, use: resourcePoolCreate)
        poolRoutes.on(.get, "", summary: "List resource pools", action: "resource-pool.list",
                      output: Page<ResourcePool>.self, list: Self.poolList, use: resourcePoolList)
        poolRoutes.on(.get, ":id", summary: "Get a resource pool", action: "resource-pool.read", output: ResourcePool.self, use: resourcePoolRead)
        poolRoutes.on(.patch, ":id", summary: "Change a resource pool", action: "resource-pool.update",
                      input: PoolPatch.self, output: ResourcePool.self, use: resourcePoolUpdate)
        poolRoutes.on(.delete, ":id", summary: "Delete a resource pool (refused while it holds machines)",
                      action: "resource-pool.delete", output: EmptyBody.self, status: 204, use: resourcePoolDelete)
    }

    // MARK: - Route handlers

    /// Create an edge data center (`edge-data-center.create`).
    func edgeDataCenterCreate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .edgeDc, .create)
        let body = try await request.decodeBody(DataCenterBody.self, context: context).value
        let center = EdgeDataCenter(name: body.name, location: body.location, status: body.status ?? .active, networkConfig: body.networkConfig)
        try await dataCenters.insert(center)
        context.audit.resource(center.id)
        return try JSONResponse.created(center, at: "/api/v1/edge-data-centers/\(center.id)")
    }

    /// List edge data centers (`edge-data-center.list`).
    func edgeDataCenterList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try authorizer.require(try context.requirePrincipal(), .edgeDc, .read)
        return try JSONResponse.make(try await dataCenters.list(try ListParameters.parse(request, Self.dataCenterList).query))
    }

    /// Get an edge data center (`edge-data-center.read`).
    func edgeDataCenterRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await dataCenter(context, .read))
    }

    /// Change an edge data center (`edge-data-center.update`).
    func edgeDataCenterUpdate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var center = try await dataCenter(context, .update)
        let patch = try await request.decodeBody(DataCenterPatch.self, context: context)
        if patch.has("name") { center.name = try required(patch.value.name, "name") }
        if patch.has("location") { center.location = patch.value.location }
        if patch.has("status") { center.status = try required(patch.value.status, "status") }
        if patch.has("networkConfig") { center.networkConfig = patch.value.networkConfig }
        center.updatedAt = Date()
        guard try await dataCenters.update(center) else { throw Problem.notFound("Edge data center") }
        return try JSONResponse.make(center)
    }

    /// Delete an edge data center (refused while it holds pools or machines) (`edge-data-center.delete`).
    func edgeDataCenterDelete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let center = try await dataCenter(context, .delete)
        guard try await dataCenters.delete(center.id) else { throw Problem.notFound("Edge data center") }
        return JSONResponse.noContent()
    }

    /// Create a resource pool in an edge data center (`resource-pool.create`).
    func resourcePoolCreate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .edgeDc, .create)
        let body = try await request.decodeBody(PoolBody.self, context: context).value
        guard try await dataCenters.find(body.edgeDataCenterId) != nil else {
            throw Problem.invalid(field: "edgeDataCenterId", "no such edge data center")
        }
        let pool = ResourcePool(
            name: body.name, description: body.description, edgeDataCenterId: body.edgeDataCenterId,
            poolType: body.poolType ?? .compute, schedulingPolicy: body.schedulingPolicy ?? SchedulingPolicyName.loadBalance,
            status: body.status ?? .active, ipPoolConfig: body.ipPoolConfig, storageConfig: body.storageConfig)
        if let cephKey = body.cephKey {
            try await storagePools.create(pool, cephKey: cephKey)
        } else {
            try await pools.insert(pool)
        }
        context.audit.resource(pool.id)
        return try JSONResponse.created(pool, at: "/api/v1/resource-pools/\(pool.id)")
    }

    /// List resource pools (`resource-pool.list`).
    func resourcePoolList(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .edgeDc, .read)
        let scope: UUID?? = Self.seesEveryPool(principal) ? .none : .some(principal.tenantId)
        return try JSONResponse.make(try await networks.listPools(try ListParameters.parse(request, Self.poolList).query, tenantScope: scope))
    }

    /// Get a resource pool (`resource-pool.read`).
    func resourcePoolRead(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await pool(context, .read))
    }

    /// Change a resource pool (`resource-pool.update`).
    func resourcePoolUpdate(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var pool = try await pool(context, .update)
        let patch = try await request.decodeBody(PoolPatch.self, context: context)
        if patch.has("name") { pool.name = try required(patch.value.name, "name") }
        if patch.has("description") { pool.description = patch.value.description }
        if patch.has("schedulingPolicy") { pool.schedulingPolicy = try required(patch.value.schedulingPolicy, "schedulingPolicy") }
        if patch.has("status") { pool.status = try required(patch.value.status, "status") }
        if patch.has("ipPoolConfig") { pool.ipPoolConfig = patch.value.ipPoolConfig }
        if patch.has("cephKey"), patch.value.cephKey == nil {
            throw Problem.malformed(field: "cephKey", "must not be null: a STORAGE pool always has a key (send the new one to replace it)")
        }
        if patch.has("storageConfig") || patch.has("cephKey") {
            let problems = Self.checkStorage(poolType: pool.poolType, storageConfig: patch.value.storageConfig, cephKey: patch.value.cephKey,
                                             creating: false)
            if !problems.isEmpty { throw Problem.invalid(problems) }
            if patch.has("storageConfig") { pool.storageConfig = try required(patch.value.storageConfig, "storageConfig") }
        }
        pool.updatedAt = Date()
        guard try await storagePools.update(pool, cephKey: patch.value.cephKey) else { throw Problem.notFound("Resource pool") }
        return try JSONResponse.make(pool)
    }

    /// Delete a resource pool (refused while it holds machines, or a STORAGE pool while disks name it)
    /// (`resource-pool.delete`).
    func resourcePoolDelete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let pool = try await pool(context, .delete)
        if pool.poolType == .storage {
            let disks = try await storagePools.disks.count(storagePoolId: pool.id)
            if disks > 0 {
                throw Problem(.conflict, detail: "The STORAGE pool still has \(disks) private data disk\(disks == 1 ? "" : "s"): delete them first.",
                              errors: [FieldError(field: "privateDataDisks.storagePoolId",
                                                  message: "\(disks) private data disk\(disks == 1 ? "" : "s") \(disks == 1 ? "is" : "are") in this pool")])
            }
        }
        guard try await pools.delete(pool.id) else { throw Problem.notFound("Resource pool") }
        return JSONResponse.noContent()
    }

    /// Infrastructure is not tenant-scoped: every caller reaches it; the role decides what it may do.
    func dataCenter(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> EdgeDataCenter {
        try await authorizer.reachInfrastructure(context, .edgeDc, action, name: "Edge data center") {
            try await dataCenters.find($0)
        }
    }

    func pool(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> ResourcePool {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Resource pool")
        context.audit.resource(id)
        let pool = try await authorizer.reach(principal, .edgeDc, action, notFound: "Resource pool") {
            try await pools.find(id)
        } visible: { pool in
            guard let subnetId = pool.subnetId, !Self.seesEveryPool(principal) else { return true }
            return try await networks.tenantOf(subnetId: subnetId).map { $0 == principal.tenantId } ?? false
        }
        if action != .read, pool.subnetId != nil {
            throw Problem(.conflict, detail: "This IP_ADDRESS pool belongs to subnet \(pool.subnetId!.uuidString): it is made, counted and removed with the subnet.")
        }
        return pool
    }

    /// ADMIN and OPERATOR (infrastructure) see every pool, subnets' included.
    static func seesEveryPool(_ principal: Principal) -> Bool { principal.role == .admin || principal.role == .operator }
}
