import Foundation
import SQLKit
import ZedgeCore

/// An attachment with the facts its agent task needs: the disk and where the instance runs.
public struct DiskAttachmentRow: Sendable, Hashable {
    public var attachment: InstancePrivateDataDiskAttachment
    public var disk: PrivateDataDisk
    /// The instance's host, if it is placed.
    public var computeMachineId: UUID?
    /// The libvirt domain UUID of the instance's VM, if it has one.
    public var vmUuid: UUID?
    public var instanceStatus: InstanceStatus
}

/// Private data disks, their attachments, and the cephx keys of STORAGE pools (kept in
/// `storage_pool_secrets`, apart from every other column: read only to hand a task to its agent).
///
/// Writes that must not race run in a transaction holding the disk's row (`lock`): a SHARED disk's
/// attachments are counted under it, so concurrent attaches never pass `maxAttachments`.
public protocol DiskRepository: ModelStore where Model == PrivateDataDisk {
    /// A page of disks, only the tenant's when `tenantId` is given.
    func list(_ query: ListQuery, tenantId: UUID?) async throws -> Page<PrivateDataDisk>
    func insert(_ disk: PrivateDataDisk, in tx: Transaction) async throws
    /// Holds the disk's row for the rest of the transaction and reads it.
    func lock(_ id: UUID, in tx: Transaction) async throws -> PrivateDataDisk?
    func update(_ disk: PrivateDataDisk, in tx: Transaction) async throws
    func delete(_ id: UUID, in tx: Transaction) async throws
    /// The STORAGE pools of a data center, in id order.
    func storagePools(edgeDataCenterId: UUID) async throws -> [ResourcePool]
    /// The disk whose RBD image this is, if any.
    func find(rbdPool: String, rbdImageName: String) async throws -> PrivateDataDisk?
    /// How many disks name the STORAGE pool (which then cannot be deleted).
    func count(storagePoolId: UUID) async throws -> Int
    /// Every STORAGE pool, in id order.
    func allStoragePools() async throws -> [ResourcePool]
    /// The ACTIVE compute machines of a data center, the most recently heard from first: the agents that can
    /// run a disk task no domain ties to a host (create, delete, resize of a detached disk).
    func storageHosts(edgeDataCenterId: UUID, in tx: Transaction?) async throws -> [ComputeMachine]
    /// A resource pool, read on the transaction (SQLite has one connection: a read beside it would wait for it).
    func pool(_ id: UUID, in tx: Transaction?) async throws -> ResourcePool?
    /// A compute machine, read on the transaction.
    func machine(_ id: UUID, in tx: Transaction?) async throws -> ComputeMachine?

    // MARK: Attachments
    func attachments(diskId: UUID, in tx: Transaction?) async throws -> [InstancePrivateDataDiskAttachment]
    func attachments(instanceId: UUID, in tx: Transaction?) async throws -> [InstancePrivateDataDiskAttachment]
    func attachment(_ id: UUID, in tx: Transaction?) async throws -> InstancePrivateDataDiskAttachment?
    /// Inserts the attachment (409 on UNIQUE(instanceId, diskId)). The caller holds the disk's row.
    func insert(_ attachment: InstancePrivateDataDiskAttachment, in tx: Transaction) async throws
    func update(_ attachment: InstancePrivateDataDiskAttachment, in tx: Transaction) async throws
    func deleteAttachment(_ id: UUID, in tx: Transaction) async throws
    /// Every attachment that is not FAILED, with its disk and instance facts (the reconciler's view).
    func liveAttachments() async throws -> [DiskAttachmentRow]
    /// The instance's attachments that are ATTACHING or ATTACHED, with their disks (a recreated domain's data
    /// disks), in attachment order.
    func dataDisks(instanceId: UUID, in tx: Transaction?) async throws -> [(InstancePrivateDataDiskAttachment, PrivateDataDisk)]

    /// Where the disk is ATTACHED: each attachment's host and domain UUID (placed instances only).
    func dataDiskHosts(diskId: UUID, in tx: Transaction?) async throws -> [(computeMachineId: UUID, vmUuid: UUID)]
    /// The names of these instances, for messages.
    func instanceNames(_ ids: [UUID], in tx: Transaction?) async throws -> [(id: UUID, name: String)]

    // MARK: Storage pools and their secrets
    func insertPool(_ pool: ResourcePool, in tx: Transaction) async throws
    /// False when the pool is gone.
    func updatePool(_ pool: ResourcePool, in tx: Transaction) async throws -> Bool
    /// Stores (or replaces) the cephx key of a STORAGE pool.
    func setSecret(poolId: UUID, cephKey: String, now: Date, in tx: Transaction) async throws
    /// The cephx key of a STORAGE pool, nil when none is stored.
    func secret(poolId: UUID) async throws -> String?
}

public struct SQLDiskRepository: DiskRepository, SQLBackedStore, DatabaseBacked {
    let base: SQLModelRepository<PrivateDataDisk>
    var database: Database { base.database }
    let table = Tables.privateDataDisks
    let attachmentTable = Tables.diskAttachments

    public init(database: Database) {
        base = SQLModelRepository(Tables.privateDataDisks, database: database)
    }

    public func list(_ query: ListQuery, tenantId: UUID?) async throws -> Page<PrivateDataDisk> {
        let scope = tenantId.map { SQLQueryString("tenant_id = \(bind: $0)") }
        return try await table.list(filters: try query.filters.map(SQLModelRepository<PrivateDataDisk>.sqlFilter), scope: scope,
                                    page: query.page, on: database.sql)
    }

    public func insert(_ disk: PrivateDataDisk, in tx: Transaction) async throws { try await table.insert(disk, on: tx.db) }

    public func lock(_ id: UUID, in tx: Transaction) async throws -> PrivateDataDisk? {
        try await tx.lock(table, id)
        return try await table.find(id, on: tx.db)
    }

    public func update(_ disk: PrivateDataDisk, in tx: Transaction) async throws { _ = try await table.update(disk, on: tx.db) }
    public func delete(_ id: UUID, in tx: Transaction) async throws { _ = try await table.delete(id, on: tx.db) }

    public func storagePools(edgeDataCenterId: UUID) async throws -> [ResourcePool] {
        try await database.sql.raw("""
            SELECT * FROM resource_pools WHERE edge_data_center_id = \(bind: edgeDataCenterId) AND pool_type = 'STORAGE' ORDER BY id
            """).all().map { try RowCodec.decode(ResourcePool.self, from: $0) }
    }

    public func find(rbdPool: String, rbdImageName: String) async throws -> PrivateDataDisk? {
        try await table.first(where: [try .equal("rbdPool", rbdPool), try .equal("rbdImageName", rbdImageName)], on: database.sql)
    }

    public func count(storagePoolId: UUID) async throws -> Int {
        try await table.count(where: [try .equal("storagePoolId", storagePoolId)], on: database.sql)
    }

    public func allStoragePools() async throws -> [ResourcePool] {
        try await database.sql.raw("SELECT * FROM resource_pools WHERE pool_type = 'STORAGE' ORDER BY id")
            .all().map { try RowCodec.decode(ResourcePool.self, from: $0) }
    }

    public func dataDiskHosts(diskId: UUID, in tx: Transaction?) async throws -> [(computeMachineId: UUID, vmUuid: UUID)] {
        try await db(tx).raw("""
            SELECT i.compute_machine_id AS machine_id, v.vm_uuid AS vm_uuid
            FROM instance_private_data_disk_attachments a JOIN instances i ON i.id = a.instance_id
            JOIN virtual_machines v ON v.id = i.virtual_machine_id
            WHERE a.disk_id = \(bind: diskId) AND a.status = 'ATTACHED' AND i.compute_machine_id IS NOT NULL ORDER BY a.id
            """).all().compactMap { row in
            guard let machine = try row.decode(column: "machine_id", as: UUID?.self),
                  let uuid = try row.decode(column: "vm_uuid", as: String?.self).flatMap(UUID.init(uuidString:)) else { return nil }
            return (machine, uuid)
        }
    }

    public func instanceNames(_ ids: [UUID], in tx: Transaction?) async throws -> [(id: UUID, name: String)] {
        var result: [(id: UUID, name: String)] = []
        for id in ids {
            if let instance = try await Tables.instances.find(id, on: db(tx)) { result.append((instance.id, instance.name)) }
        }
        return result
    }

    public func pool(_ id: UUID, in tx: Transaction?) async throws -> ResourcePool? {
        try await Tables.resourcePools.find(id, on: db(tx))
    }

    public func machine(_ id: UUID, in tx: Transaction?) async throws -> ComputeMachine? {
        try await Tables.computeMachines.find(id, on: db(tx))
    }

    public func storageHosts(edgeDataCenterId: UUID, in tx: Transaction?) async throws -> [ComputeMachine] {
        try await db(tx).raw("""
            SELECT * FROM compute_machines WHERE edge_data_center_id = \(bind: edgeDataCenterId) AND status = 'ACTIVE'
            ORDER BY last_heartbeat DESC, id
            """).all().map { try RowCodec.decode(ComputeMachine.self, from: $0) }
    }

    public func attachments(diskId: UUID, in tx: Transaction?) async throws -> [InstancePrivateDataDiskAttachment] {
        try await db(tx).raw("""
            SELECT * FROM instance_private_data_disk_attachments WHERE disk_id = \(bind: diskId) ORDER BY id
            """).all().map { try RowCodec.decode(InstancePrivateDataDiskAttachment.self, from: $0) }
    }

    public func attachments(instanceId: UUID, in tx: Transaction?) async throws -> [InstancePrivateDataDiskAttachment] {
        try await db(tx).raw("""
            SELECT * FROM instance_private_data_disk_attachments WHERE instance_id = \(bind: instanceId) ORDER BY id
            """).all().map { try RowCodec.decode(InstancePrivateDataDiskAttachment.self, from: $0) }
    }

    public func attachment(_ id: UUID, in tx: Transaction?) async throws -> InstancePrivateDataDiskAttachment? {
        try await attachmentTable.find(id, on: db(tx))
    }

    public func insert(_ attachment: InstancePrivateDataDiskAttachment, in tx: Transaction) async throws {
        try await attachmentTable.insert(attachment, on: tx.db)
    }

    public func update(_ attachment: InstancePrivateDataDiskAttachment, in tx: Transaction) async throws {
        _ = try await attachmentTable.update(attachment, on: tx.db)
    }

    public func deleteAttachment(_ id: UUID, in tx: Transaction) async throws {
        try await tx.db.raw("DELETE FROM instance_private_data_disk_attachments WHERE id = \(bind: id)").run()
    }

    public func liveAttachments() async throws -> [DiskAttachmentRow] {
        let rows = try await database.sql.raw("""
            SELECT a.id AS a_id, i.compute_machine_id AS machine_id, v.vm_uuid AS vm_uuid, i.status AS instance_status
            FROM instance_private_data_disk_attachments a JOIN instances i ON i.id = a.instance_id
            LEFT JOIN virtual_machines v ON v.id = i.virtual_machine_id
            WHERE a.status <> 'FAILED' ORDER BY a.id
            """).all()
        var result: [DiskAttachmentRow] = []
        for row in rows {
            guard let attachment = try await attachmentTable.find(try row.decode(column: "a_id", as: UUID.self), on: database.sql),
                  let disk = try await table.find(attachment.diskId, on: database.sql) else { continue }
            let status = InstanceStatus(rawValue: try row.decode(column: "instance_status", as: String.self)) ?? .error
            result.append(DiskAttachmentRow(
                attachment: attachment, disk: disk, computeMachineId: try row.decode(column: "machine_id", as: UUID?.self),
                vmUuid: try row.decode(column: "vm_uuid", as: String?.self).flatMap(UUID.init(uuidString:)), instanceStatus: status))
        }
        return result
    }

    public func dataDisks(instanceId: UUID, in tx: Transaction?) async throws -> [(InstancePrivateDataDiskAttachment, PrivateDataDisk)] {
        var result: [(InstancePrivateDataDiskAttachment, PrivateDataDisk)] = []
        for attachment in try await attachments(instanceId: instanceId, in: tx)
        where attachment.status == .attaching || attachment.status == .attached {
            if let disk = try await table.find(attachment.diskId, on: db(tx)) { result.append((attachment, disk)) }
        }
        return result
    }

    public func insertPool(_ pool: ResourcePool, in tx: Transaction) async throws {
        try await Tables.resourcePools.insert(pool, on: tx.db)
    }

    public func updatePool(_ pool: ResourcePool, in tx: Transaction) async throws -> Bool {
        try await Tables.resourcePools.update(pool, on: tx.db)
    }

    public func setSecret(poolId: UUID, cephKey: String, now: Date, in tx: Transaction) async throws {
        try await tx.db.raw("DELETE FROM storage_pool_secrets WHERE resource_pool_id = \(bind: poolId)").run()
        try await tx.db.raw("""
            INSERT INTO storage_pool_secrets (id, resource_pool_id, ceph_key, created_at, updated_at)
            VALUES (\(bind: UUID.v7()), \(bind: poolId), \(bind: cephKey), \(bind: now), \(bind: now))
            """).run()
    }

    public func secret(poolId: UUID) async throws -> String? {
        try await database.sql.raw("SELECT ceph_key FROM storage_pool_secrets WHERE resource_pool_id = \(bind: poolId)")
            .first()?.decode(column: "ceph_key", as: String.self)
    }
}
