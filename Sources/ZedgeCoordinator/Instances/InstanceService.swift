import Foundation
import Logging
import SQLKit
import ZedgeCore

/// Creates instances (template → quotas → placement → claim → VM → `vm.create`), carries out their
/// lifecycle actions, and moves them along as their agents report (DESIGN §2, §5, §6).
public struct InstanceService: Sendable {
    let store: Store
    let queue: TaskQueue
    let access: TemplateAccess
    let ledger: CapacityLedger
    let engine: PlacementEngine
    let settings: Settings
    /// Heartbeats as they arrive (the database's lastHeartbeat lags by up to one liveness flush).
    let liveness: LivenessTracker?
    let logger: Logger
    let tables = Tables()

    /// What the coordinator's configuration decides about instances.
    public struct Settings: Sendable {
        /// Where agents keep instances' root disks.
        public var diskDirectory: String
        /// Seconds a guest gets to power off before `vm.stop` forces it.
        public var stopTimeoutS: Int
        /// The libvirt network instances' NICs join.
        public var network: String

        public init(diskDirectory: String = "/var/lib/zedge-agent/disks", stopTimeoutS: Int = 60, network: String = "default") {
            self.diskDirectory = diskDirectory
            self.stopTimeoutS = stopTimeoutS
            self.network = network
        }
    }

    struct Tables: Sendable {
        let instances = Table<Instance>("instances", resource: "instance")
        let vms = Table<VirtualMachine>("virtual_machines", resource: "virtual machine")
        let machines = Table<ComputeMachine>("compute_machines", resource: "compute machine")
        let pools = Table<ResourcePool>("resource_pools", resource: "resource pool")
    }

    public init(
        store: Store, queue: TaskQueue, access: TemplateAccess, engine: PlacementEngine, settings: Settings,
        liveness: LivenessTracker? = nil, logger: Logger
    ) {
        self.liveness = liveness
        self.store = store
        self.queue = queue
        self.access = access
        self.ledger = CapacityLedger(engine: store.database.engine)
        self.engine = engine
        self.settings = settings
        self.logger = logger
    }

    // MARK: - Create

    /// What `POST /api/v1/instances` asks for.
    public struct CreateRequest: Sendable {
        public var name: String
        public var templateId: UUID
        public var templateVersion: String?
        public var parameters: [String: JSONValue]
        public var resourcePoolId: UUID?
        public var tenantId: UUID?
        public var rentalMode: RentalMode?
        public var timeoutS: Int?
        public var snapshot: JSONValue
    }

    /// An accepted request: the instance (CREATING) and the operation that follows it.
    public struct Accepted: Codable, Sendable {
        public var instance: InstanceView
        public var operation: ZedgeCore.Operation
    }

    public func create(_ request: CreateRequest, by principal: Principal, now: Date = Date()) async throws -> Accepted {
        let tenantId = try await owningTenant(request.tenantId, principal)
        let (template, version, config) = try await access.resolveForUse(
            templateId: request.templateId, versionNumber: request.templateVersion, principal: principal)
        var resolved: ResolvedInstanceConfig
        switch config.resolve(request.parameters) {
        case .success(let value): resolved = value
        case .failure(let failure): throw Problem.invalid(failure.errors)
        }
        resolved.templateVersionId = version.id
        resolved.templateVersion = version.versionNumber

        // Placement runs over a snapshot taken outside the transaction; the claim re-checks the room.
        let candidates = try await candidates(poolId: request.resourcePoolId)
        let policy = request.resourcePoolId.flatMap { id in candidates.first { $0.pool.id == id }?.pool.schedulingPolicy }
            .map(SchedulingPolicy.init(poolPolicy:)) ?? .loadBalance
        let placement = PlacementRequest(resources: resolved.resources, gpuModel: resolved.gpuModel,
                                         rentalMode: request.rentalMode ?? .shared, hypervisorType: nil)
        let decision = engine.place(placement, among: candidates, policy: policy, now: now)

        let user = try await store.users.find(principal.userId)
        let instance = Instance(
            name: request.name, tenantId: tenantId, userId: principal.userId, templateId: template.id, status: .creating,
            desiredStatus: .running, config: try JSONValue(encoding: resolved), rentalMode: placement.rentalMode,
            timeoutS: request.timeoutS, createdAt: now, updatedAt: now)
        let operationId = UUID.v7()
        let service = self, resolvedConfig = resolved
        let (stored, operation, task) = try await store.database.transaction { db in
            try await service.lockTenant(tenantId, on: db)
            try await service.checkQuotas(ResourceUsage(instance: resolvedConfig.resources), user: user, principal: principal,
                                          tenantId: tenantId, on: db)
            guard !decision.ranked.isEmpty else {
                throw Problem.conflict("No capacity: " + decision.summary(for: placement))
            }
            try await service.tables.instances.insert(instance, on: db)
            guard let claim = try await service.ledger.claim(decision.ranked, for: instance.id, now: now, on: db) else {
                throw Problem.conflict("No capacity: the \(decision.ranked.count) machine(s) that fitted were taken by concurrent placements.")
            }
            guard let machine = try await service.tables.machines.find(claim.computeMachineId, on: db) else {
                throw Problem.conflict("The chosen machine was removed; try again.")
            }
            let gpus = try await service.ledger.assignGpus(claim.gpuCount, on: machine.id, to: instance.id, on: db)
            let vm = try await service.makeVirtualMachine(for: instance, on: machine, config: resolvedConfig, gpus: gpus, now: now, on: db)
            try await service.tables.vms.insert(vm, on: db)
            var placed = instance
            placed.computeMachineId = machine.id
            placed.resourcePoolId = claim.resourcePoolId
            placed.virtualMachineId = vm.id
            _ = try await service.tables.instances.update(placed, on: db)

            let spec = try service.spec(for: vm, machine: machine, config: resolvedConfig)
            let task = AgentTask(operationId: operationId, computeMachineId: machine.id, kind: .vmCreate,
                                 payload: try JSONValue(encoding: VmCreatePayload(spec: spec, start: true)), createdAt: now, updatedAt: now)
            let operation = ZedgeCore.Operation(
                id: operationId, kind: "instance.create", status: .running, tenantId: tenantId, userId: principal.userId,
                resourceType: ResourceType.instance.rawValue, resourceId: instance.id,
                steps: [
                    OperationStep(name: "quota", weight: 1, status: .succeeded),
                    OperationStep(name: "placement", weight: 1, status: .succeeded),
                    OperationStep(name: TaskKind.vmCreate.rawValue, weight: 8, taskId: task.id),
                ],
                progress: 20, request: request.snapshot, createdAt: now, updatedAt: now, startedAt: now)
            try await service.queue.insert(operation, tasks: [task], on: db)
            return (placed, operation, task)
        }
        queue.wake([task])
        logger.info("instance placed", metadata: ["instance": "\(stored.id)", "machine": "\(stored.computeMachineId.map { "\($0)" } ?? "-")"])
        return Accepted(instance: InstanceView(instance: stored, unreachable: false), operation: operation)
    }

    /// The tenant the instance belongs to: the caller's, or for ADMIN the one named (its own if none).
    func owningTenant(_ requested: UUID?, _ principal: Principal) async throws -> UUID {
        if principal.role == .admin {
            guard let tenantId = requested ?? principal.tenantId else {
                throw Problem.invalid(field: "tenantId", "is required: the admin user belongs to no tenant")
            }
            guard try await store.tenants.find(tenantId) != nil else { throw Problem.invalid(field: "tenantId", "no such tenant") }
            return tenantId
        }
        guard let own = principal.tenantId, requested == nil || requested == own else {
            throw Problem(.forbidden, detail: "Instances are created in your own tenant.",
                          errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
        }
        return own
    }

    /// Every machine of the pool (or of every ACTIVE compute pool) with its pool.
    func candidates(poolId: UUID?) async throws -> [PlacementCandidate] {
        var pools: [UUID: ResourcePool] = [:]
        if let poolId {
            guard let pool = try await store.resourcePools.find(poolId) else {
                throw Problem.invalid(field: "resourcePoolId", "no such resource pool")
            }
            guard pool.poolType == .compute else { throw Problem.invalid(field: "resourcePoolId", "is not a COMPUTE pool") }
            pools[pool.id] = pool
        } else {
            for pool in try await store.allPages({ try await store.resourcePools.list(.init(filters: [PropertyFilter("poolType", .string("COMPUTE"))], page: $0)) }) {
                pools[pool.id] = pool
            }
        }
        var query = store.database.sql.select().column("*").from("compute_machines")
        if let poolId { query = query.where("resource_pool_id", .equal, poolId) }
        let machines = try await query.all().map { row -> ComputeMachine in
            var machine = try RowCodec.decode(ComputeMachine.self, from: row)
            if let beat = liveness?.latest(machine.id)?.at, beat > (machine.lastHeartbeat ?? .distantPast) { machine.lastHeartbeat = beat }
            return machine
        }
        return machines.compactMap { machine in pools[machine.resourcePoolId].map { PlacementCandidate(machine: machine, pool: $0) } }
    }

    /// On PostgreSQL, holds the tenant's row for the transaction, so that quota checks of one tenant's
    /// creates run one after another (SQLite transactions already do).
    func lockTenant(_ tenantId: UUID, on db: any SQLDatabase) async throws {
        guard store.database.engine == .postgres else { return }
        try await db.raw("SELECT id FROM tenants WHERE id = \(bind: tenantId) FOR UPDATE").run()
    }

    /// User, then each of its groups, then its tenant (DESIGN §2); a refusal names the level and numbers.
    func checkQuotas(_ request: ResourceUsage, user: User?, principal: Principal, tenantId: UUID, on db: any SQLDatabase) async throws {
        var scopes: [QuotaScope] = []
        if let user, let limits = user.quotaConfig {
            scopes.append(QuotaScope(level: .user(user.id, name: user.username), limits: limits,
                                     usage: try await usage(where: "i.user_id = ?", [user.id], on: db)))
        }
        let groups = try await db.raw("""
            SELECT g.id AS id, g.name AS name, g.quota_config AS quota_config FROM user_groups g
            JOIN user_group_members m ON m.group_id = g.id WHERE m.user_id = \(bind: principal.userId) ORDER BY g.id
            """).all()
        for row in groups {
            guard !(try row.decodeNil(column: "quota_config")) else { continue }
            let text = try row.decode(column: "quota_config", as: String.self)
            guard let limits = try? ZedgeJSON.decoder().decode(QuotaConfig.self, from: Data(text.utf8)) else { continue }
            let id = try row.decode(column: "id", as: UUID.self)
            scopes.append(QuotaScope(
                level: .group(id, name: try row.decode(column: "name", as: String.self)), limits: limits,
                usage: try await usage(where: "i.user_id IN (SELECT user_id FROM user_group_members WHERE group_id = ?)", [id], on: db)))
        }
        if let tenant = try await Table<Tenant>("tenants", resource: "tenant").find(tenantId, on: db), let limits = tenant.quotaConfig {
            scopes.append(QuotaScope(level: .tenant(tenant.id, name: tenant.name), limits: limits,
                                     usage: try await usage(where: "i.tenant_id = ?", [tenantId], on: db)))
        }
        if let violation = QuotaCheck.check(request, against: scopes) {
            throw Problem(.conflict, title: "Quota exceeded", detail: violation.message,
                          errors: [FieldError(field: "quota.\(violation.level.kind.lowercased()).\(violation.limit)", message: violation.message)])
        }
    }

    /// What the live instances matching `condition` (over `instances i`) hold: their live claims' amounts
    /// and their count.
    func usage(where condition: String, _ ids: [UUID], on db: any SQLDatabase) async throws -> ResourceUsage {
        func query(_ sql: String) -> SQLQueryString {
            var parts = sql.components(separatedBy: "?")
            var result = SQLQueryString(parts.removeFirst())
            for (id, part) in zip(ids, parts) { result = result + "\(bind: id)" + SQLQueryString(part) }
            return result
        }
        let claimed = try await db.raw(query("""
            SELECT CAST(COALESCE(SUM(c.cpu_cores), 0) AS BIGINT) AS cpu, CAST(COALESCE(SUM(c.memory_gb), 0) AS BIGINT) AS mem,
                   CAST(COALESCE(SUM(c.storage_gb), 0) AS BIGINT) AS sto, CAST(COALESCE(SUM(c.gpu_count), 0) AS BIGINT) AS gpu
            FROM capacity_claims c JOIN instances i ON i.id = c.instance_id
            WHERE c.released_at IS NULL AND \(condition)
            """)).first()
        let count = try await db.raw(query("SELECT COUNT(*) AS n FROM instances i WHERE i.status <> 'DELETED' AND \(condition)")).first()
        return ResourceUsage(
            cpuCores: try claimed?.decode(column: "cpu", as: Int.self) ?? 0, memoryGb: try claimed?.decode(column: "mem", as: Int.self) ?? 0,
            storageGb: try claimed?.decode(column: "sto", as: Int.self) ?? 0, gpuCount: try claimed?.decode(column: "gpu", as: Int.self) ?? 0,
            instances: try count?.decode(column: "n", as: Int.self) ?? 0)
    }

    func makeVirtualMachine(
        for instance: Instance, on machine: ComputeMachine, config: ResolvedInstanceConfig, gpus: [String], now: Date,
        on db: any SQLDatabase
    ) async throws -> VirtualMachine {
        let vmUuid = UUID()
        let bytes = withUnsafeBytes(of: vmUuid.uuid) { Array($0) }
        let mac = String(format: "52:54:00:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2])
        let safeName = String(instance.name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(40))
        let name = "zedge-\(vmUuid.uuidString.prefix(8).lowercased())-\(safeName)"
        // One console port per machine: the lowest not used by its live VMs.
        let used = Set(try await db.raw("""
            SELECT config FROM virtual_machines WHERE compute_machine_id = \(bind: machine.id) AND status <> 'DELETED'
            """).all().compactMap { row -> Int? in
                guard let text = try? row.decode(column: "config", as: String.self),
                      let config = try? ZedgeJSON.decoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
                return config.objectValue?["consolePort"]?.intValue
            })
        let port = (GraphicsSpec.portRange.lowerBound...).first { !used.contains($0) } ?? GraphicsSpec.portRange.lowerBound
        return VirtualMachine(
            computeMachineId: machine.id, instanceId: instance.id, vmUuid: vmUuid.uuidString, vmName: String(name.prefix(63)),
            cpuCores: config.resources.cpuCores, memoryGb: config.resources.memoryGb, storageGb: config.resources.storageGb,
            gpuCount: config.resources.gpuCount, status: .creating, macAddress: mac,
            config: ["consolePort": .number(Double(port)), "consoleKind": .string(config.console.rawValue),
                     "consoleHost": .string(machine.managementIp), "gpuPciAddresses": .array(gpus.map { .string($0) })],
            createdAt: now, updatedAt: now)
    }

    /// The domain an instance's VM is on its host.
    func spec(for vm: VirtualMachine, machine: ComputeMachine, config: ResolvedInstanceConfig) throws -> VmSpec {
        guard let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else { throw Problem.conflict("The VM has no domain UUID.") }
        let port = vm.config?.objectValue?["consolePort"]?.intValue
        return VmSpec(
            name: vm.vmName, uuid: uuid, vcpus: vm.cpuCores, memoryMiB: vm.memoryGb * 1024,
            rootDisk: DiskSpec(source: .file(path: "\(settings.diskDirectory)/\(vm.vmName)-root.qcow2"), target: "vda"),
            nics: vm.macAddress.map { [NicSpec(mac: $0, attachment: .network(settings.network))] } ?? [],
            graphics: GraphicsSpec(kind: config.console, listen: machine.managementIp, port: port),
            gpus: (vm.config?.objectValue?["gpuPciAddresses"]?.arrayValue ?? []).compactMap(\.stringValue).map(GpuSpec.init(pciAddress:)))
    }
}

/// An instance as the API shows it: with `unreachable` set while its machine is OFFLINE (it stays where
/// it is; nothing is deleted or re-placed by itself).
public struct InstanceView: Codable, Sendable {
    public var instance: Instance
    public var unreachable: Bool

    public init(instance: Instance, unreachable: Bool) {
        self.instance = instance
        self.unreachable = unreachable
    }

    enum CodingKeys: String, CodingKey { case unreachable }

    public init(from decoder: any Decoder) throws {
        instance = try Instance(from: decoder)
        unreachable = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .unreachable)
    }

    public func encode(to encoder: any Encoder) throws {
        try instance.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(unreachable, forKey: .unreachable)
    }
}
