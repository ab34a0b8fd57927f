import Foundation
import Logging
import ZedgeCore

/// Attachments of private data disks to instances (seed §3 InstancePrivateDataDiskAttachment, issue #11):
/// `{instanceId, mountPath, mountMode}` → ATTACHING → `disk.attach` on the instance's host → ATTACHED, or FAILED
/// with the agent's reason; detach: DETACHING → `disk.detach` → gone.
///
/// Rules, each checked while the disk's row is held (so concurrent requests serialise on it; rows are always held
/// instance first, then disk, as an instance's deletion holds them):
/// - UNIQUE(instanceId, diskId); an EXCLUSIVE disk takes one attachment, a SHARED one up to `maxAttachments`
///   (every attachment of a SHARED disk is `<shareable/>` in the domain); RO attachments are `<readonly/>`;
/// - the instance must be RUNNING (a live hotplug that also persists in the definition) or STOPPED (the
///   definition only), and in the data center of the disk's STORAGE pool (409 saying why otherwise);
/// - a deleted instance's attachments go with it and its disks stay, AVAILABLE (`release`); an instance
///   recreated elsewhere (evacuation, repair) gets its disks in its new domain (`dataDisks`).
///
/// Operations on an attachment have `resourceType` STORAGE and the attachment's id.
public struct DiskAttachments: Sendable {
    let disks: any DiskRepository
    let instances: any InstanceRepository
    let computeMachines: any ModelRepository<ComputeMachine>
    let tasks: any TaskRepository
    let dispatcher: WorkDispatcher
    let storagePools: StoragePools
    let logger: Logger

    static let outcomeKinds: [TaskKind] = [.diskAttach, .diskDetach]
    /// Longest `mountPath`.
    public static let maximumMountPath = 255

    /// Registers `taskFinished` for `disk.attach` and `disk.detach` with `outcomes`.
    public init(disks: any DiskRepository, instances: any InstanceRepository, computeMachines: any ModelRepository<ComputeMachine>,
                tasks: any TaskRepository, dispatcher: WorkDispatcher, storagePools: StoragePools, outcomes: TaskOutcomeHandlers, logger: Logger) {
        self.disks = disks
        self.instances = instances
        self.computeMachines = computeMachines
        self.tasks = tasks
        self.dispatcher = dispatcher
        self.storagePools = storagePools
        self.logger = logger
        let service = self
        outcomes.on(Self.outcomeKinds) { task in try await service.taskFinished(task) }
    }

    /// An accepted attach or detach: the attachment as it is now and the operation that carries it on.
    public struct Accepted: Codable, Sendable {
        public var attachment: InstancePrivateDataDiskAttachment
        public var operation: ZedgeCore.Operation
    }

    /// `mountPath`: an absolute path without '.' or '..' segments or control characters (`checkMountPath`).
    public static let mountPathRule = FieldRule.string(
        ["minLength": 1, "maxLength": .number(Double(maximumMountPath)),
         "pattern": "^(?!.*/\\.\\.?(/|$))/[^\\u0000-\\u001F\\u007F]*$"],
        { path, _ in checkMountPath(path) })

    /// 400 naming `mountPath` unless it is an absolute path without '.', '..' or control characters.
    public static func checkMountPath(_ path: String) -> FieldError? {
        let b = Array(path.utf8)
        guard b.first == UInt8(ascii: "/"), b.count <= maximumMountPath, !b.contains(where: { $0 < 0x20 || $0 == 0x7F }),
              !path.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) else {
            return FieldError(field: "mountPath",
                              message: "must be an absolute path of at most \(maximumMountPath) characters, without '.', '..' or control characters")
        }
        return nil
    }

    /// Attaches the disk to the instance (202): ATTACHING, and `disk.attach` for the instance's host.
    public func attach(diskId: UUID, instanceId: UUID, mountPath: String, mountMode: MountMode, by principal: Principal,
                       now: Date = Date()) async throws -> Accepted {
        let service = self
        return try await dispatcher.transaction { tx, submissions in
            // Rows are held instance first, then disk, as an instance's deletion does (no lock-order deadlock).
            let held = try await service.instances.lock(instanceId, in: tx)
            guard let disk = try await service.disks.lock(diskId, in: tx) else { throw DomainError.notFound("Private data disk") }
            guard let instance = held, instance.tenantId == disk.tenantId, instance.status != .deleted else {
                throw DomainError.invalid(field: "instanceId", "no such instance in the disk's tenant")
            }
            guard disk.status == .available || disk.status == .attached else {
                throw DomainError.conflict("The disk is \(disk.status.rawValue): it can be attached when it is AVAILABLE or ATTACHED.")
            }
            guard instance.status == .running || instance.status == .stopped else {
                throw DomainError.conflict("Instance \(instance.name) is \(instance.status.rawValue): attach disks to a RUNNING or STOPPED instance.",
                                           field: "instanceId")
            }
            guard let machineId = instance.computeMachineId, let machine = try await service.disks.machine(machineId, in: tx),
                  let vmId = instance.virtualMachineId, let vm = try await service.instances.virtualMachine(vmId, in: tx),
                  let vmUuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else {
                throw DomainError.conflict("Instance \(instance.name) has no virtual machine to attach the disk to.", field: "instanceId")
            }
            guard let poolId = disk.storagePoolId, let pool = try await service.disks.pool(poolId, in: tx),
                  let config = pool.storageConfig else {
                throw DomainError.conflict("The disk's STORAGE pool is gone or has no storageConfig.")
            }
            guard pool.edgeDataCenterId == machine.edgeDataCenterId else {
                throw DomainError.conflict(
                    "The disk lives in edge data center \(pool.edgeDataCenterId.uuidString.lowercased()) (STORAGE pool \(pool.name)); "
                        + "instance \(instance.name) runs in \(machine.edgeDataCenterId.uuidString.lowercased()). "
                        + "A disk attaches only to instances in its own data center.", field: "instanceId")
            }
            let existing = try await service.disks.attachments(diskId: disk.id, in: tx)
            if existing.contains(where: { $0.instanceId == instance.id }) {
                throw DomainError.conflict("The disk is already attached to instance \(instance.name).", field: "instanceId")
            }
            let limit = disk.shareMode == .exclusive ? 1 : disk.maxAttachments
            if existing.count >= limit {
                let names = try await service.disks.instanceNames(existing.map(\.instanceId), in: tx).map(\.name)
                throw DomainError.conflict(
                    "The disk is \(disk.shareMode.rawValue) with maxAttachments \(limit) and is attached to "
                        + names.joined(separator: ", ") + ": detach it there first.", field: "instanceId")
            }
            let attachment = InstancePrivateDataDiskAttachment(
                instanceId: instance.id, diskId: disk.id, mountPath: mountPath, mountMode: mountMode, attachedAt: now,
                attachedBy: principal.userId, status: .attaching)
            try await service.disks.insert(attachment, in: tx)
            var plan = OperationPlan(kind: "private-data-disk.attach", tenantId: disk.tenantId, userId: principal.userId,
                                     resourceType: ResourceType.storage.rawValue, resourceId: attachment.id,
                                     request: ["diskId": .string(disk.id.uuidString), "instanceId": .string(instance.id.uuidString),
                                               "mountMode": .string(mountMode.rawValue)])
            plan.task(.diskAttach, for: .computeMachine(machine.id),
                      payload: try Self.attachPayload(disk, attachment, cluster: config.cluster(storagePoolId: pool.id), vmUuid: vmUuid))
            return Accepted(attachment: attachment, operation: try await submissions.submit(plan, now: now))
        }
    }

    /// Detaches (202): DETACHING, and `disk.detach` for the instance's host; an attachment already DETACHING
    /// answers with that operation. 409 while it is ATTACHING.
    public func detach(diskId: UUID, attachmentId: UUID, by principal: Principal, now: Date = Date()) async throws -> Accepted {
        let service = self
        return try await dispatcher.transaction { tx, submissions in
            guard let disk = try await service.disks.lock(diskId, in: tx),
                  var attachment = try await service.disks.attachment(attachmentId, in: tx), attachment.diskId == disk.id else {
                throw DomainError.notFound("Disk attachment")
            }
            if attachment.status == .detaching, let latest = try await service.tasks.latestOperation(resourceId: attachment.id, in: tx) {
                return Accepted(attachment: attachment, operation: latest)
            }
            if attachment.status == .attaching {
                throw DomainError.conflict("The attachment is ATTACHING; detach it once it is ATTACHED (or FAILED).")
            }
            var plan = OperationPlan(kind: "private-data-disk.detach", tenantId: disk.tenantId, userId: principal.userId,
                                     resourceType: ResourceType.storage.rawValue, resourceId: attachment.id,
                                     request: ["diskId": .string(disk.id.uuidString), "instanceId": .string(attachment.instanceId.uuidString)])
            let instance = try await service.instances.find(attachment.instanceId, in: tx)
            var vm: VirtualMachine?
            if let vmId = instance?.virtualMachineId { vm = try await service.instances.virtualMachine(vmId, in: tx) }
            guard let machineId = instance?.computeMachineId, let vmUuid = vm?.vmUuid.flatMap(UUID.init(uuidString:)),
                  let poolId = disk.storagePoolId, let cluster = try await service.storagePools.cluster(poolId, in: tx) else {
                // No domain can hold it: the row goes at once.
                try await service.disks.deleteAttachment(attachment.id, in: tx)
                try await service.refreshStatus(diskId: disk.id, now: now, in: tx)
                plan.settled("private-data-disk.detach")
                return Accepted(attachment: attachment, operation: try await submissions.submit(plan, now: now))
            }
            attachment.status = .detaching
            attachment.error = nil
            try await service.disks.update(attachment, in: tx)
            plan.task(.diskDetach, for: .computeMachine(machineId),
                      payload: try JSONValue(encoding: DiskDetachPayload(cluster: cluster, image: disk.rbdImageName, vmUuid: vmUuid)))
            return Accepted(attachment: attachment, operation: try await submissions.submit(plan, now: now))
        }
    }

    /// The `disk.attach` payload of an attachment.
    static func attachPayload(_ disk: PrivateDataDisk, _ attachment: InstancePrivateDataDiskAttachment, cluster: RbdCluster,
                              vmUuid: UUID) throws -> JSONValue {
        try JSONValue(encoding: DiskAttachPayload(cluster: cluster, image: disk.rbdImageName, vmUuid: vmUuid, serial: disk.serial,
                                                  readOnly: attachment.mountMode == .ro, shareable: disk.shareMode == .shared))
    }

    // MARK: - Repairs (DiskReconciler)

    /// What the reconciler does about one attachment.
    public enum Repair: Sendable, CustomStringConvertible {
        /// Send `disk.attach` again (ATTACHING).
        case attach(reason: String)
        /// Send `disk.detach` again (stays DETACHING).
        case detach(reason: String)
        /// The domain has the disk: ATTACHING → ATTACHED.
        case settleAttached
        /// The domain has let it go: the DETACHING attachment goes.
        case settleDetached

        public var description: String {
            switch self {
            case .attach(let reason): "attach again (\(reason))"
            case .detach(let reason): "detach again (\(reason))"
            case .settleAttached: "ATTACHED (the domain has the disk)"
            case .settleDetached: "gone (the domain let the disk go)"
            }
        }
    }

    /// Carries out a repair if the attachment is still in the status it was seen in (409 otherwise).
    func repair(_ attachmentId: UUID, _ step: Repair, on machineId: UUID, vmUuid: UUID, now: Date) async throws {
        let service = self
        try await dispatcher.transaction { tx, submissions in
            guard let found = try await service.disks.attachment(attachmentId, in: tx),
                  let disk = try await service.disks.lock(found.diskId, in: tx),
                  var attachment = try await service.disks.attachment(attachmentId, in: tx) else { throw DomainError.notFound("Disk attachment") }
            func expect(_ statuses: AttachmentStatus...) throws {
                guard statuses.contains(attachment.status) else { throw DomainError.conflict("changed") }
            }
            switch step {
            case .settleAttached:
                try expect(.attaching)
                attachment.status = .attached
                attachment.attachedAt = now
                attachment.error = nil
                try await service.disks.update(attachment, in: tx)
            case .settleDetached:
                try expect(.detaching)
                try await service.disks.deleteAttachment(attachment.id, in: tx)
            case .attach(let reason), .detach(let reason):
                guard let poolId = disk.storagePoolId, let cluster = try await service.storagePools.cluster(poolId, in: tx) else {
                    throw DomainError.conflict("The disk's STORAGE pool is gone.")
                }
                var plan = OperationPlan(kind: "private-data-disk.reconcile", tenantId: disk.tenantId, userId: nil,
                                         resourceType: ResourceType.storage.rawValue, resourceId: attachment.id,
                                         request: ["reason": .string(reason), "diskId": .string(disk.id.uuidString)])
                if case .attach = step {
                    try expect(.attached, .attaching)
                    attachment.status = .attaching
                    try await service.disks.update(attachment, in: tx)
                    plan.task(.diskAttach, for: .computeMachine(machineId),
                              payload: try Self.attachPayload(disk, attachment, cluster: cluster, vmUuid: vmUuid))
                } else {
                    try expect(.detaching)
                    plan.task(.diskDetach, for: .computeMachine(machineId), payload: try JSONValue(encoding: DiskDetachPayload(
                        cluster: cluster, image: disk.rbdImageName, vmUuid: vmUuid)))
                }
                _ = try await submissions.submit(plan, now: now)
            }
            try await service.refreshStatus(diskId: disk.id, now: now, in: tx)
        }
    }

    /// The known disk behind an image a domain holds without an attachment, when the report (`reportedAt`) is newer
    /// than the disk's last attachment change (an older one may predate a detach that since went through); nil
    /// otherwise, and for an image no disk has (nothing to build a task from: it is left alone).
    func strayDisk(image: String, rbdPool: String, reportedAt: Date) async throws -> PrivateDataDisk? {
        guard let disk = try await disks.find(rbdPool: rbdPool, rbdImageName: image),
              reportedAt > disk.updatedAt.addingTimeInterval(1) else { return nil }
        return disk
    }

    /// Sends `disk.detach` for a private data disk a domain holds that no attachment explains; false when its
    /// STORAGE pool is gone (nothing to build the task from).
    func detachStray(_ disk: PrivateDataDisk, vmUuid: UUID, on machineId: UUID, now: Date) async throws -> Bool {
        guard let poolId = disk.storagePoolId, let cluster = try await storagePools.cluster(poolId) else { return false }
        var plan = OperationPlan(kind: "private-data-disk.detach-stray", tenantId: disk.tenantId, userId: nil,
                                 resourceType: ResourceType.storage.rawValue, resourceId: disk.id,
                                 request: ["vmUuid": .string(vmUuid.uuidString), "by": "reconciler"])
        plan.task(.diskDetach, for: .computeMachine(machineId),
                  payload: try JSONValue(encoding: DiskDetachPayload(cluster: cluster, image: disk.rbdImageName, vmUuid: vmUuid)))
        try await dispatcher.submit(plan, now: now)
        return true
    }

    // MARK: - With instances

    /// Drops the attachments of an instance whose domain is gone (deleted): its disks stay, AVAILABLE unless
    /// attached elsewhere. Runs in the transaction that marks the instance DELETED.
    public func release(instanceId: UUID, now: Date, in tx: Transaction) async throws {
        for attachment in try await disks.attachments(instanceId: instanceId, in: tx) {
            _ = try await disks.lock(attachment.diskId, in: tx)
            try await disks.deleteAttachment(attachment.id, in: tx)
            try await refreshStatus(diskId: attachment.diskId, now: now, in: tx)
        }
    }

    /// The instance's attached disks as data disks of its domain (targets vdb, vdc, … in attachment order) and
    /// the clusters whose secrets its host needs: what a recreated domain (evacuation, repair) is defined with.
    public func dataDisks(instanceId: UUID) async throws -> (disks: [DiskSpec], clusters: [RbdCluster]) {
        var specs: [DiskSpec] = []
        var clusters: [UUID: RbdCluster] = [:]
        for (attachment, disk) in try await disks.dataDisks(instanceId: instanceId, in: nil) {
            guard let poolId = disk.storagePoolId, let cluster = try await storagePools.cluster(poolId),
                  let target = Self.target(index: specs.count) else { continue }
            clusters[poolId] = cluster
            specs.append(DiskSpec(source: cluster.source(image: disk.rbdImageName), target: target, readOnly: attachment.mountMode == .ro,
                                  shareable: disk.shareMode == .shared, format: .raw, serial: disk.serial))
        }
        return (specs, clusters.values.sorted { $0.storagePoolId.uuidString < $1.storagePoolId.uuidString })
    }

    /// "vdb" … "vdz" for data disk `index` (vda is the root disk); nil past 25 disks.
    static func target(index: Int) -> String? {
        guard (0..<25).contains(index) else { return nil }
        return "vd" + String(Character(Unicode.Scalar(UInt8(ascii: "b") + UInt8(index))))
    }

    // MARK: - Outcomes

    /// Moves the attachment along when its agent finishes `disk.attach` or `disk.detach`.
    public func taskFinished(_ task: AgentTask, now: Date = Date()) async throws {
        guard Self.outcomeKinds.contains(task.kind), let operationId = task.operationId,
              let operation = try await tasks.target(ofOperation: operationId), operation.resourceType == ResourceType.storage.rawValue,
              let attachmentId = operation.resourceId else { return }
        let succeeded = task.status == .succeeded
        let reason = task.error ?? "the agent gave no reason"
        let service = self
        try await dispatcher.transactions.run { tx in
            guard let found = try await service.disks.attachment(attachmentId, in: tx),
                  try await service.disks.lock(found.diskId, in: tx) != nil,
                  var attachment = try await service.disks.attachment(attachmentId, in: tx) else { return }
            switch (task.kind, succeeded) {
            case (.diskAttach, true):
                guard attachment.status == .attaching else { return }
                attachment.status = .attached
                attachment.attachedAt = now
                attachment.error = nil
                try await service.disks.update(attachment, in: tx)
            case (.diskAttach, false):
                guard attachment.status == .attaching else { return }
                attachment.status = .failed
                attachment.error = "disk.attach failed: \(reason)"
                try await service.disks.update(attachment, in: tx)
            case (.diskDetach, true):
                guard attachment.status == .detaching else { return }
                try await service.disks.deleteAttachment(attachment.id, in: tx)
            case (.diskDetach, false):
                guard attachment.status == .detaching else { return }
                // The domain may still hold the disk: it stays ATTACHED, with the reason, until a detach succeeds.
                attachment.status = .attached
                attachment.error = "disk.detach failed: \(reason)"
                try await service.disks.update(attachment, in: tx)
            default:
                return
            }
            try await service.refreshStatus(diskId: attachment.diskId, now: now, in: tx)
        }
    }

    /// ATTACHED while any attachment is, else AVAILABLE (a disk CREATING, DELETING or in ERROR keeps its status);
    /// `updatedAt` moves with every change of the disk's attachments, so that the reconciler can tell a
    /// heartbeat taken before the change from one taken after. The caller holds the disk's row.
    func refreshStatus(diskId: UUID, now: Date, in tx: Transaction) async throws {
        guard var disk = try await disks.lock(diskId, in: tx) else { return }
        if disk.status == .available || disk.status == .attached {
            let attached = try await disks.attachments(diskId: diskId, in: tx).contains { $0.status == .attached }
            disk.status = attached ? .attached : .available
        }
        disk.updatedAt = now
        try await disks.update(disk, in: tx)
    }
}
