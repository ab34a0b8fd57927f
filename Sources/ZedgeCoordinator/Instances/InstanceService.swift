import Foundation
import Logging
import ZedgeCore

/// Creates instances (template → quotas → placement → VM → `vm.create`), carries out their lifecycle
/// actions, and moves them along as their agents report (DESIGN §2, §5, §6).
public struct InstanceService: Sendable {
    let instances: any InstanceRepository
    let tenants: any ModelRepository<Tenant>
    let computeMachines: any ModelRepository<ComputeMachine>
    let tasks: any TaskRepository
    let auditLogs: any TimeSeriesRepository<AuditLog>
    let access: TemplateAccess
    let images: ImageService
    let quotas: QuotaService
    let placement: Placement
    let dispatcher: WorkDispatcher
    let vmFactory: VirtualMachineFactory
    let specs: VmSpecBuilder
    let attachments: NetworkAttachments
    /// The instance's private data disks: released when it is deleted, attached again when it is recreated.
    let diskAttachments: DiskAttachments
    /// Seconds a guest gets to power off before `vm.stop` forces it.
    let stopTimeoutS: Int
    let logger: Logger

    /// The `vm.*` kinds whose outcomes move instances (see `taskFinished`).
    static let outcomeKinds: [TaskKind] = [.vmCreate, .vmStart, .vmStop, .vmRestart, .vmDelete]

    /// Registers `taskFinished` for the `vm.*` kinds with `outcomes`.
    public init(
        instances: any InstanceRepository, tenants: any ModelRepository<Tenant>, computeMachines: any ModelRepository<ComputeMachine>,
        tasks: any TaskRepository, auditLogs: any TimeSeriesRepository<AuditLog>, access: TemplateAccess, images: ImageService, quotas: QuotaService,
        placement: Placement, dispatcher: WorkDispatcher, vmFactory: VirtualMachineFactory, specs: VmSpecBuilder,
        attachments: NetworkAttachments, diskAttachments: DiskAttachments, stopTimeoutS: Int, outcomes: TaskOutcomeHandlers, logger: Logger
    ) {
        self.attachments = attachments
        self.diskAttachments = diskAttachments
        self.instances = instances
        self.tenants = tenants
        self.computeMachines = computeMachines
        self.tasks = tasks
        self.auditLogs = auditLogs
        self.access = access
        self.images = images
        self.quotas = quotas
        self.placement = placement
        self.dispatcher = dispatcher
        self.vmFactory = vmFactory
        self.specs = specs
        self.stopTimeoutS = stopTimeoutS
        self.logger = logger
        let service = self
        outcomes.on(Self.outcomeKinds) { task in try await service.taskFinished(task) }
    }

    // MARK: - Create

    /// What `POST /api/v1/instances` asks for.
    public struct CreateRequest: Sendable {
        public var name: String
        public var templateId: UUID
        public var templateVersion: String?
        /// The image version (a `versionNumber`) or tag to boot from; default: the image's default version, else
        /// its latest.
        public var imageVersion: String? = nil
        public var imageTag: String? = nil
        public var parameters: [String: JSONValue]
        public var resourcePoolId: UUID?
        public var tenantId: UUID?
        public var rentalMode: RentalMode?
        public var timeoutS: Int?
        /// The NICs: each a subnet of the tenant and optionally its address; nil takes the template's
        /// `networkConfig.networks`, if any.
        public var networks: [NetworkAttachments.NicRequest]? = nil
        public var snapshot: JSONValue
    }

    /// An accepted request: the instance (CREATING) and the operation that follows it.
    public struct Accepted: Codable, Sendable {
        public var instance: InstanceView
        public var operation: ZedgeCore.Operation
    }

    /// The template's resolved config → quotas → placement and claim → the VM → `vm.create` (202).
    public func create(_ request: CreateRequest, by principal: Principal, now: Date = Date()) async throws -> Accepted {
        var resolving = StageTimes()
        let tenantId = try await owningTenant(request.tenantId, principal)
        let config = try await resolve(request, principal)
        let nicRequests = try request.networks ?? NetworkAttachments.templateDefault(config.resolved.networkConfig) ?? []
        let nicPlan = try await attachments.plan(nicRequests, tenantId: tenantId)
        let placementRequest = PlacementRequest(resources: config.resources, gpuModel: config.gpuModel,
                                                rentalMode: request.rentalMode ?? .shared, hypervisorType: nil,
                                                edgeDataCenterId: nicPlan.edgeDataCenterId, needsIntegrationBridge: !nicPlan.isEmpty)
        let quotaLimits = try await quotas.limits(userId: principal.userId, tenantId: tenantId)
        let instance = Instance(
            name: request.name, tenantId: tenantId, userId: principal.userId, templateId: config.templateId, status: .creating,
            desiredStatus: .running, config: try JSONValue(encoding: config.resolved), rentalMode: placementRequest.rentalMode,
            timeoutS: request.timeoutS, createdAt: now, updatedAt: now)
        let service = self
        resolving.mark(.resolve)
        let resolved = ContinuousClock.now
        let (stored, operation, stages) = try await placement.withRanking(
            placementRequest, poolId: request.resourcePoolId, image: config.resolved.image?.sha256, now: now
        ) { ranking in
            var ranked = StageTimes(since: resolved)
            ranked.mark(.rank)
            let stagesBefore = ranked
            let (stored, operation, committing) = try await dispatcher.transaction { tx, submissions in
                var stages = stagesBefore
                stages.mark(.begin)
                try await service.quotas.check(ResourceUsage(instance: config.resources), within: quotaLimits, tenantId: tenantId, in: tx)
                stages.mark(.quota)
                try await service.instances.insert(instance, in: tx)
                let placed = try await service.placement.claim(ranking, for: instance.id, now: now, in: tx)
                stages.mark(.claim)
                var resolved = config.resolved
                let nics = try await service.attachments.attach(nicPlan, instanceId: instance.id, by: principal.userId, now: now, in: tx)
                resolved.networks = nics.isEmpty ? nil : nics
                var vm = try await service.vmFactory.make(for: instance, on: placed.machine, config: resolved,
                                                          gpus: placed.gpuAddresses, now: now, in: tx)
                if let first = nics.first {
                    vm.ipAddress = first.ipAddress
                    vm.macAddress = first.macAddress
                }
                try await service.instances.insert(vm, in: tx)
                var stored = instance
                // The config as inserted, unless the NICs changed it: then (only then) it is encoded again.
                let configChanged = !(nics.isEmpty && config.resolved.networks == nil)
                if configChanged { stored.config = try JSONValue(encoding: resolved) }
                stored.computeMachineId = placed.machine.id
                stored.resourcePoolId = placed.claim.resourcePoolId
                stored.virtualMachineId = vm.id
                try await service.instances.updatePlacement(stored, withConfig: configChanged, in: tx)
                stages.mark(.vm)

                var plan = OperationPlan(kind: "instance.create", tenantId: tenantId, userId: principal.userId,
                                         resourceType: ResourceType.instance.rawValue, resourceId: instance.id, request: request.snapshot)
                plan.startsRunning = true
                plan.settled("quota")
                plan.settled("placement")
                try plan.task(.vmCreate, for: .computeMachine(placed.machine.id),
                              typed: try service.specs.createPayload(for: vm, instance: stored, machine: placed.machine, config: resolved, start: true),
                              weight: 8)
                let operation = try await submissions.submit(plan, now: now)
                stages.mark(.enqueue)
                return (stored, operation, stages)
            }
            var stages = committing
            stages.mark(.commit)
            return (stored, operation, stages)
        }
        if let metrics = placement.metrics {
            for (stage, duration) in resolving.recorded + stages.recorded { metrics.instanceCreate(stage, took: duration) }
        }
        logger.info("instance placed", metadata: ["instance": "\(stored.id)", "machine": "\(stored.computeMachineId.map { "\($0)" } ?? "-")"])
        return Accepted(instance: InstanceView(instance: stored, unreachable: false), operation: operation)
    }

    /// The template version the request names, its parameters applied (400 naming each bad parameter).
    func resolve(_ request: CreateRequest, _ principal: Principal) async throws -> (templateId: UUID, resolved: ResolvedInstanceConfig, resources: ClaimAmounts, gpuModel: String?) {
        let (template, version, config) = try await access.resolveForUse(
            templateId: request.templateId, versionNumber: request.templateVersion, principal: principal)
        var resolved: ResolvedInstanceConfig
        switch config.resolve(request.parameters) {
        case .success(let value): resolved = value
        case .failure(let failure): throw DomainError.invalid(failure.errors)
        }
        resolved.templateVersionId = version.id
        resolved.templateVersion = version.versionNumber
        if let imageId = resolved.baseImageId {
            do {
                resolved.image = try await images.resolveForInstance(
                    imageId: imageId, imageVersion: request.imageVersion, imageTag: request.imageTag, principal: principal,
                    cpuCores: resolved.resources.cpuCores, memoryGb: resolved.resources.memoryGb,
                    storageGb: resolved.resources.storageGb).ref
            } catch let error as DomainError where error.kind == .invalid {
                throw DomainError.invalid(error.errors.map { Self.sizeFieldOfTheRequest($0, parameters: resolved.parameters) })
            }
        } else if request.imageVersion != nil || request.imageTag != nil {
            throw DomainError.invalid(field: request.imageVersion != nil ? "imageVersion" : "imageTag",
                                      "the template has no image (baseImageId)")
        }
        return (template.id, resolved, resolved.resources, resolved.gpuModel)
    }

    /// An image's refusal of the instance's size (`ImageService.resolveForInstance` names `cpuCores`, `memoryGb` or
    /// `storageGb`) as a field of the create request: `parameters.NAME` when a parameter set that size (as the size
    /// checks of `TemplateConfig.resolve` name it), else `templateId`, saying which of the template's defaults
    /// (`defaultCpuCores`, …) is too small. Other errors are returned as they are.
    static func sizeFieldOfTheRequest(_ error: FieldError, parameters: [String: JSONValue]) -> FieldError {
        let defaults = ["cpuCores": "defaultCpuCores", "memoryGb": "defaultMemoryGb", "storageGb": "defaultStorageGb"]
        guard let templateField = defaults[error.field] else { return error }
        if parameters[error.field] != nil { return FieldError(field: "parameters.\(error.field)", message: error.message) }
        return FieldError(field: "templateId", message: "the template's \(templateField) is too small: \(error.message)")
    }

    /// The tenant the new object belongs to (`TenantOwnership`).
    func owningTenant(_ requested: UUID?, _ principal: Principal) async throws -> UUID {
        try await TenantOwnership.owningTenant(requested, principal, tenants: tenants, objects: "Instances")
    }

    /// Renames an instance or changes its timeoutS (only those columns: a concurrent status change by an
    /// agent must not be undone).
    public func rename(_ instance: Instance, now: Date = Date()) async throws -> InstanceView {
        var instance = instance
        instance.updatedAt = now
        try await instances.updateNameAndTimeout(instance)
        return try await view(try await instances.find(instance.id) ?? instance)
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
