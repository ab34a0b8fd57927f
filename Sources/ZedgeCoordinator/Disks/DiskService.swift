import Foundation
import Logging
import ZedgeCore

/// Private data disks (seed §3 PrivateDataDisk, DESIGN §10, issue #11): RBD images in a STORAGE pool's Ceph
/// cluster, made, grown and removed by an agent in the pool's data center through libvirt.
///
/// - create: quotas (`disks`, `storageGb`: user ≤ groups ≤ tenant) → CREATING → `disk.create` → AVAILABLE, or
///   ERROR with the agent's reason;
/// - resize grows only (shrinking loses data: 409): `disk.resize` on every host that has it attached (a
///   running guest sees a new size only through `virDomainBlockResize`), else on any host of the data center;
/// - delete: DELETING → `disk.delete` → gone; 409 naming the instances while any attachment remains.
///
/// Operations on a disk have `resourceType` STORAGE and the disk's id; one at a time (409 while one runs).
public struct DiskService: Sendable {
    let disks: any DiskRepository
    let tenants: any ModelRepository<Tenant>
    let tasks: any TaskRepository
    let quotas: QuotaService
    let dispatcher: WorkDispatcher
    let storagePools: StoragePools
    let logger: Logger

    static let outcomeKinds: [TaskKind] = [.diskCreate, .diskResize, .diskDelete]

    /// Registers `taskFinished` for `disk.create`, `disk.resize` and `disk.delete` with `outcomes`.
    public init(disks: any DiskRepository, tenants: any ModelRepository<Tenant>, tasks: any TaskRepository, quotas: QuotaService,
                dispatcher: WorkDispatcher, storagePools: StoragePools, outcomes: TaskOutcomeHandlers, logger: Logger) {
        self.disks = disks
        self.tenants = tenants
        self.tasks = tasks
        self.quotas = quotas
        self.dispatcher = dispatcher
        self.storagePools = storagePools
        self.logger = logger
        let service = self
        outcomes.on(Self.outcomeKinds) { task in try await service.taskFinished(task) }
    }

    /// What `POST /api/v1/private-data-disks` asks for.
    public struct CreateRequest: Sendable {
        public var name: String
        /// GiB.
        public var sizeGb: Int
        public var diskType: PrivateDataDiskType
        public var shareMode: ShareMode
        public var maxAttachments: Int?
        /// The STORAGE pool; nil: the only STORAGE pool of `edgeDataCenterId` (or of the whole fleet).
        public var storagePoolId: UUID?
        public var edgeDataCenterId: UUID?
        public var tenantId: UUID?
        public var snapshot: JSONValue

        public init(name: String, sizeGb: Int, diskType: PrivateDataDiskType, shareMode: ShareMode, maxAttachments: Int?,
                    storagePoolId: UUID?, edgeDataCenterId: UUID?, tenantId: UUID?, snapshot: JSONValue) {
            self.name = name
            self.sizeGb = sizeGb
            self.diskType = diskType
            self.shareMode = shareMode
            self.maxAttachments = maxAttachments
            self.storagePoolId = storagePoolId
            self.edgeDataCenterId = edgeDataCenterId
            self.tenantId = tenantId
            self.snapshot = snapshot
        }
    }

    /// An accepted request: the disk as it is now and the operation that carries it on.
    public struct Accepted: Codable, Sendable {
        public var disk: PrivateDataDisk
        public var operation: ZedgeCore.Operation
    }

    /// The default `maxAttachments` of a SHARED disk.
    public static let defaultSharedAttachments = 2

    /// `maxAttachments` for the share mode: EXCLUSIVE is always 1; SHARED 1...16 (default 2).
    static func maxAttachments(_ requested: Int?, shareMode: ShareMode) throws -> Int {
        switch shareMode {
        case .exclusive:
            if let requested, requested != 1 {
                throw DomainError.invalid(field: "maxAttachments", "must be 1 for an EXCLUSIVE disk (use shareMode SHARED)")
            }
            return 1
        case .shared:
            let value = requested ?? defaultSharedAttachments
            guard (1...PrivateDataDisk.maximumAttachmentsLimit).contains(value) else {
                throw DomainError.invalid(field: "maxAttachments", "must be from 1 to \(PrivateDataDisk.maximumAttachmentsLimit)")
            }
            return value
        }
    }

    /// Quotas → the disk (CREATING) → `disk.create` on an ACTIVE machine of the pool's data center (202).
    public func create(_ request: CreateRequest, by principal: Principal, now: Date = Date()) async throws -> Accepted {
        let tenantId = try await owningTenant(request.tenantId, principal)
        let maxAttachments = try Self.maxAttachments(request.maxAttachments, shareMode: request.shareMode)
        let (pool, cluster) = try await storagePool(request.storagePoolId, edgeDataCenterId: request.edgeDataCenterId)
        let host = try await storageHost(pool)
        let id = UUID.v7()
        let disk = PrivateDataDisk(
            id: id, name: request.name, tenantId: tenantId, userId: principal.userId, sizeGb: request.sizeGb, diskType: request.diskType,
            status: .creating, shareMode: request.shareMode, maxAttachments: maxAttachments, rbdImageName: PrivateDataDisk.imageName(for: id),
            rbdPool: cluster.rbdPool, storagePoolId: pool.id, createdAt: now, updatedAt: now, createdBy: principal.userId,
            updatedBy: principal.userId)
        let service = self
        let operation = try await dispatcher.transaction { tx, submissions in
            try await service.quotas.check(ResourceUsage(storageGb: request.sizeGb, disks: 1), userId: principal.userId, tenantId: tenantId, in: tx)
            try await service.disks.insert(disk, in: tx)
            var plan = OperationPlan(kind: "private-data-disk.create", tenantId: tenantId, userId: principal.userId,
                                     resourceType: ResourceType.storage.rawValue, resourceId: disk.id, request: request.snapshot)
            plan.startsRunning = true
            plan.settled("quota")
            plan.task(.diskCreate, for: .computeMachine(host.id),
                      payload: try JSONValue(encoding: DiskCreatePayload(cluster: cluster, image: disk.rbdImageName, sizeGb: disk.sizeGb)),
                      weight: 4)
            return try await submissions.submit(plan, now: now)
        }
        logger.info("private data disk accepted", metadata: ["disk": "\(disk.id)", "pool": "\(pool.id)", "host": "\(host.id)"])
        return Accepted(disk: disk, operation: operation)
    }

    /// Renames the disk and/or grows it to `sizeGb` (quota checked for the growth). Growing is an operation
    /// (202 with it); a rename alone answers with no operation.
    public func update(_ diskId: UUID, name: String?, sizeGb: Int?, by principal: Principal, now: Date = Date())
        async throws -> (disk: PrivateDataDisk, operation: ZedgeCore.Operation?)
    {
        let inFlight = try await tasks.resourcesInFlight()
        let service = self
        return try await dispatcher.transaction { tx, submissions in
            guard var disk = try await service.disks.lock(diskId, in: tx) else { throw DomainError.notFound("Private data disk") }
            let previousSize = disk.sizeGb
            if let name { disk.name = name }
            disk.updatedAt = now
            disk.updatedBy = principal.userId
            guard let sizeGb, sizeGb != disk.sizeGb else {
                try await service.disks.update(disk, in: tx)
                return (disk, nil)
            }
            if sizeGb < disk.sizeGb {
                throw DomainError.conflict("A disk only grows: shrinking \(disk.name) from \(disk.sizeGb) GiB to \(sizeGb) GiB would lose data.",
                                           field: "sizeGb")
            }
            guard disk.status == .available || disk.status == .attached else {
                throw DomainError.conflict("The disk is \(disk.status.rawValue): it can be resized when it is AVAILABLE or ATTACHED.", field: "sizeGb")
            }
            let attachments = try await service.disks.attachments(diskId: disk.id, in: tx)
            if inFlight.contains(disk.id) || attachments.contains(where: { $0.status == .attaching || $0.status == .detaching }) {
                throw DomainError.conflict("The disk has an operation under way; resize it when that has finished.", field: "sizeGb")
            }
            guard let poolId = disk.storagePoolId, let cluster = try await service.storagePools.cluster(poolId, in: tx) else {
                throw DomainError.conflict("The disk's STORAGE pool is gone or has no storageConfig.")
            }
            try await service.quotas.check(ResourceUsage(storageGb: sizeGb - disk.sizeGb), userId: disk.userId, tenantId: disk.tenantId, in: tx)
            disk.sizeGb = sizeGb
            disk.error = nil
            try await service.disks.update(disk, in: tx)
            var plan = OperationPlan(kind: "private-data-disk.resize", tenantId: disk.tenantId, userId: principal.userId,
                                     resourceType: ResourceType.storage.rawValue, resourceId: disk.id,
                                     request: ["sizeGb": .number(Double(sizeGb)), "previousSizeGb": .number(Double(previousSize))])
            plan.startsRunning = true
            plan.settled("quota")
            // Every host that has the disk attached resizes it through its domains (which also tells the
            // guests); without any, one host of the data center resizes the volume.
            let rows = try await service.disks.dataDiskHosts(diskId: disk.id, in: tx)
            let byHost = Dictionary(grouping: rows, by: \.computeMachineId)
            if byHost.isEmpty {
                guard let pool = try await service.disks.pool(poolId, in: tx) else { throw DomainError.conflict("The disk's STORAGE pool is gone.") }
                let host = try await service.storageHost(pool, in: tx)
                plan.task(.diskResize, for: .computeMachine(host.id),
                          payload: try JSONValue(encoding: DiskResizePayload(cluster: cluster, image: disk.rbdImageName, sizeGb: sizeGb)))
            } else {
                for (machineId, hosted) in byHost.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
                    plan.task(.diskResize, for: .computeMachine(machineId), payload: try JSONValue(encoding: DiskResizePayload(
                        cluster: cluster, image: disk.rbdImageName, sizeGb: sizeGb, vmUuids: hosted.map(\.vmUuid))))
                }
            }
            return (disk, try await submissions.submit(plan, now: now))
        }
    }

    /// DELETING → `disk.delete` (202); 409 naming the instances while any attachment remains. Deleting a disk
    /// that is already DELETING answers with that operation.
    public func delete(_ diskId: UUID, by principal: Principal, now: Date = Date()) async throws -> Accepted {
        let inFlight = try await tasks.resourcesInFlight()
        let service = self
        let pools = storagePools
        return try await dispatcher.transaction { tx, submissions in
            guard var disk = try await service.disks.lock(diskId, in: tx) else { throw DomainError.notFound("Private data disk") }
            if disk.status == .deleting, let latest = try await service.tasks.latestOperation(resourceId: disk.id, in: tx) {
                return Accepted(disk: disk, operation: latest)
            }
            let attachments = try await service.disks.attachments(diskId: disk.id, in: tx)
            if !attachments.isEmpty {
                let names = try await service.disks.instanceNames(attachments.map(\.instanceId), in: tx)
                throw DomainError.conflict(
                    "The disk is attached to \(attachments.count == 1 ? "instance" : "instances") "
                        + names.map { "\($0.name) (\($0.id.uuidString.lowercased()))" }.joined(separator: ", ")
                        + ": detach it first.")
            }
            if inFlight.contains(disk.id) {
                throw DomainError.conflict("The disk is \(disk.status.rawValue) with an operation under way; delete it when that has finished.")
            }
            guard let poolId = disk.storagePoolId, let cluster = try await pools.cluster(poolId, in: tx),
                  let pool = try await service.disks.pool(poolId, in: tx) else {
                // No cluster to remove an image from (a row from before storage pools): only the row goes.
                try await service.disks.delete(disk.id, in: tx)
                var plan = OperationPlan(kind: "private-data-disk.delete", tenantId: disk.tenantId, userId: principal.userId,
                                         resourceType: ResourceType.storage.rawValue, resourceId: disk.id, request: nil)
                plan.settled("private-data-disk.delete")
                return Accepted(disk: disk, operation: try await submissions.submit(plan, now: now))
            }
            let host = try await service.storageHost(pool, in: tx)
            disk.status = .deleting
            disk.updatedAt = now
            disk.updatedBy = principal.userId
            try await service.disks.update(disk, in: tx)
            var plan = OperationPlan(kind: "private-data-disk.delete", tenantId: disk.tenantId, userId: principal.userId,
                                     resourceType: ResourceType.storage.rawValue, resourceId: disk.id, request: nil)
            plan.task(.diskDelete, for: .computeMachine(host.id),
                      payload: try JSONValue(encoding: DiskDeletePayload(cluster: cluster, image: disk.rbdImageName)))
            return Accepted(disk: disk, operation: try await submissions.submit(plan, now: now))
        }
    }

    // MARK: - Outcomes

    /// Moves the disk along when its agent finishes `disk.create`, `disk.resize` or `disk.delete`.
    public func taskFinished(_ task: AgentTask, now: Date = Date()) async throws {
        guard Self.outcomeKinds.contains(task.kind), let operationId = task.operationId,
              let operation = try await tasks.operation(operationId), operation.resourceType == ResourceType.storage.rawValue,
              let diskId = operation.resourceId else { return }
        let succeeded = task.status == .succeeded
        let reason = task.error ?? "the agent gave no reason"
        let service = self
        try await dispatcher.transactions.run { tx in
            guard var disk = try await service.disks.lock(diskId, in: tx) else { return }
            disk.updatedAt = now
            switch task.kind {
            case .diskCreate:
                guard disk.status == .creating else { return }
                disk.status = succeeded ? .available : .error
                disk.error = succeeded ? nil : "disk.create failed: \(reason)"
            case .diskResize:
                // The whole resize (every host's task) went through: an earlier failure's reason is history.
                if succeeded, operation.status == .succeeded { disk.error = nil }
                if !succeeded {
                    disk.error = "disk.resize to \(disk.sizeGb) GiB failed: \(reason)"
                    if let previous = operation.request?.objectValue?["previousSizeGb"]?.intValue { disk.sizeGb = previous }
                }
            case .diskDelete:
                guard disk.status == .deleting else { return }
                if succeeded {
                    try await service.disks.delete(disk.id, in: tx)
                    return
                }
                disk.status = .error
                disk.error = "disk.delete failed: \(reason)"
            default:
                return
            }
            try await service.disks.update(disk, in: tx)
        }
    }

    // MARK: - Helpers

    /// The STORAGE pool a disk goes to, with its cluster: the one named (400 unless it is an ACTIVE STORAGE pool
    /// with a storageConfig), else the only one of the data center named, else the only one there is.
    func storagePool(_ id: UUID?, edgeDataCenterId: UUID?) async throws -> (ResourcePool, RbdCluster) {
        let pool: ResourcePool
        if let id {
            guard let found = try await storagePools.pools.find(id), found.poolType == .storage else {
                throw DomainError.invalid(field: "storagePoolId", "no such STORAGE resource pool")
            }
            pool = found
        } else {
            let candidates: [ResourcePool]
            if let edgeDataCenterId {
                candidates = try await disks.storagePools(edgeDataCenterId: edgeDataCenterId)
            } else {
                candidates = try await disks.allStoragePools()
            }
            guard candidates.count == 1, let only = candidates.first else {
                let scope = edgeDataCenterId == nil ? "" : " in edge data center \(edgeDataCenterId!.uuidString.lowercased())"
                throw DomainError.invalid(field: "storagePoolId", candidates.isEmpty
                    ? "is required: there is no STORAGE resource pool\(scope)"
                    : "is required: there are \(candidates.count) STORAGE resource pools\(scope)")
            }
            pool = only
        }
        guard pool.status == .active else {
            throw DomainError.conflict("STORAGE pool \(pool.name) is \(pool.status.rawValue): disks are made only in ACTIVE pools.",
                                       field: "storagePoolId")
        }
        guard let config = pool.storageConfig else {
            throw DomainError.conflict("STORAGE pool \(pool.name) has no storageConfig (Ceph monitors, RBD pool, cephx user).",
                                       field: "storagePoolId")
        }
        return (pool, config.cluster(storagePoolId: pool.id))
    }

    /// The machine that runs a disk task no domain ties to a host: an ACTIVE one in the pool's data center.
    func storageHost(_ pool: ResourcePool, in tx: Transaction? = nil) async throws -> ComputeMachine {
        guard let host = try await disks.storageHosts(edgeDataCenterId: pool.edgeDataCenterId, in: tx).first else {
            throw DomainError.conflict("No ACTIVE compute machine in STORAGE pool \(pool.name)'s data center can reach its Ceph cluster.",
                                       field: "storagePoolId")
        }
        return host
    }

    /// The tenant the new object belongs to (`TenantOwnership`).
    func owningTenant(_ requested: UUID?, _ principal: Principal) async throws -> UUID {
        try await TenantOwnership.owningTenant(requested, principal, tenants: tenants, objects: "Disks")
    }
}
