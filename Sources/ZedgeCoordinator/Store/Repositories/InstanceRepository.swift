import Foundation
import SQLKit
import ZedgeCore

/// A settled instance (RUNNING, STOPPED or ERROR) as the reconciler reads it: with whether it has a VM row and that
/// VM's domain UUID. Its `config` is not read (nil): a pass compares statuses with reports, and a step re-reads the
/// instance whole; decoding every instance's config made a full pass over 100,000 instances take ~10 s and 2 GiB.
public struct SettledInstance: Sendable {
    public var instance: Instance
    public var hasVm: Bool
    public var vmUuid: String?
}

/// Instances and their virtual machines: reads, transactional changes and the queries the lifecycle and
/// the reconciler need.
public protocol InstanceRepository: ModelRepository where Model == Instance {
    /// Reads the instance for a change, holding its row for the rest of the transaction.
    func lock(_ id: UUID, in tx: Transaction) async throws -> Instance?
    /// As `lock`, without the `config` (nil), for `updateLifecycle`: a task's outcome changes only the instance's
    /// lifecycle, and parsing its config for that was ~5 % of the SQLite writer's work under creates (issue #14).
    func lockForLifecycle(_ id: UUID, in tx: Transaction) async throws -> Instance?
    func find(_ id: UUID, in tx: Transaction) async throws -> Instance?
    func insert(_ instance: Instance, in tx: Transaction) async throws
    func update(_ instance: Instance, in tx: Transaction) async throws
    /// Writes only what a task's outcome changes: status, desiredStatus, startedAt, computeMachineId and updatedAt (the
    /// config and the rest are left as stored, not encoded again).
    func updateLifecycle(_ instance: Instance, in tx: Transaction) async throws
    /// Writes only where a new instance was placed: computeMachineId, resourcePoolId, virtualMachineId, and the
    /// config when `withConfig` (it gained the NICs).
    func updatePlacement(_ instance: Instance, withConfig: Bool, in tx: Transaction) async throws
    /// Writes only the name and timeoutS (a concurrent status change by an agent must not be undone).
    func updateNameAndTimeout(_ instance: Instance) async throws
    /// RUNNING, STOPPED and ERROR instances (those the reconciler compares with what hosts report), each with its
    /// VM's domain UUID, in one read: all of them when `machines` is nil, else those on these machines.
    func settled(on machines: Set<UUID>?) async throws -> [SettledInstance]
    /// The settled instances whose reconciling depends on the clock rather than on a report: ERROR ones (retried after
    /// a while) and RUNNING ones with a `timeoutS`.
    func settledOnTheClock() async throws -> [SettledInstance]
    /// The settled ones among `ids`.
    func settled(ids: Set<UUID>) async throws -> [SettledInstance]
    /// The machines of the instances whose `updatedAt` is after `since` (index `ix_instances_updated_at`).
    func machinesWithChanges(since: Date) async throws -> Set<UUID>
    /// Instances in a transitional status (CREATING, STARTING, STOPPING, DELETING) unchanged since `before`.
    func inTransition(unchangedSince before: Date) async throws -> [Instance]
    /// The live instances on a machine (not DELETED or DELETING).
    func residents(of machineId: UUID) async throws -> [Instance]
    /// How many instances on the machine are not DELETED.
    func liveCount(on machineId: UUID) async throws -> Int

    func virtualMachine(_ id: UUID, in tx: Transaction) async throws -> VirtualMachine?
    func virtualMachine(uuid: UUID, in tx: Transaction) async throws -> VirtualMachine?
    func insert(_ vm: VirtualMachine, in tx: Transaction) async throws
    func update(_ vm: VirtualMachine, in tx: Transaction) async throws
    /// Writes only the VM's status and updatedAt.
    func updateStatus(_ vm: VirtualMachine, in tx: Transaction) async throws
    /// The console ports the machine's live VMs use.
    /// The domain UUIDs (upper case) of the live VMs of each of these machines (500 machines a statement); a machine
    /// with none has no entry.
    func liveDomainUuids(on machines: Set<UUID>) async throws -> [UUID: Set<String>]
    /// Of these domain UUIDs (upper case), those that a virtual machine of this coordinator's database has ever had,
    /// whatever its status or machine now, each with the newest `updatedAt` of such a VM (its last change: a delete,
    /// an evacuation's move).
    func knownDomains(_ uuids: Set<String>) async throws -> [String: Date]
}

public struct SQLInstanceRepository: InstanceRepository, SQLBackedStore, DatabaseBacked {
    let base: SQLModelRepository<Instance>
    var database: Database { base.database }
    let table = Tables.instances
    let vms = Tables.virtualMachines

    public init(database: Database) {
        base = SQLModelRepository(Tables.instances, database: database)
    }

    public func insert(_ model: Instance) async throws { try await base.insert(model) }

    public func lock(_ id: UUID, in tx: Transaction) async throws -> Instance? {
        try await tx.lock(table, id)
        return try await table.find(id, on: tx.db)
    }

    public func lockForLifecycle(_ id: UUID, in tx: Transaction) async throws -> Instance? {
        try await tx.lock(table, id)
        return try await tx.db.raw("""
            SELECT \(unsafeRaw: Self.columnsButConfig("")) FROM instances WHERE id = \(bind: id)
            """).first().map { try RowCodec.decode(Instance.self, from: $0) }
    }

    /// Every column of `instances` but `config`, each prefixed with `alias` ("i." or "").
    static func columnsButConfig(_ alias: String) -> String {
        ["id", "name", "tenant_id", "user_id", "template_id", "status", "desired_status", "rental_mode", "resource_pool_id",
         "compute_machine_id", "virtual_machine_id", "timeout_s", "created_at", "updated_at", "started_at"]
            .map { alias + $0 }.joined(separator: ", ")
    }

    public func find(_ id: UUID, in tx: Transaction) async throws -> Instance? { try await table.find(id, on: tx.db) }
    public func insert(_ instance: Instance, in tx: Transaction) async throws { try await table.insert(instance, on: tx.db) }
    public func update(_ instance: Instance, in tx: Transaction) async throws { _ = try await table.update(instance, on: tx.db) }

    public func updateLifecycle(_ instance: Instance, in tx: Transaction) async throws {
        try await table.update(instance.id, set: [
            ("status", try RowCodec.bind(instance.status)), ("desired_status", try RowCodec.bind(instance.desiredStatus)),
            ("started_at", try RowCodec.bind(optional: instance.startedAt)),
            ("compute_machine_id", try RowCodec.bind(optional: instance.computeMachineId)),
            ("updated_at", try RowCodec.bind(instance.updatedAt)),
        ], on: tx.db)
    }

    public func updateNameAndTimeout(_ instance: Instance) async throws {
        do {
            try await database.sql.update(table.name).set("name", to: instance.name)
                .set("timeout_s", to: instance.timeoutS).set("updated_at", to: instance.updatedAt)
                .where("id", .equal, instance.id).run()
        } catch {
            throw ConstraintViolation.map(error, resource: table.resource, operation: .write)
        }
    }

    public func settled(on machines: Set<UUID>?) async throws -> [SettledInstance] {
        guard let machines else { return try await settled(where: "1 = 1") }
        return try await settled(whereAnyOf: machines, in: "i.compute_machine_id")
    }

    public func settledOnTheClock() async throws -> [SettledInstance] {
        try await settled(where: "(i.status = 'ERROR' OR (i.status = 'RUNNING' AND i.timeout_s IS NOT NULL))")
    }

    public func settled(ids: Set<UUID>) async throws -> [SettledInstance] {
        try await settled(whereAnyOf: ids, in: "i.id")
    }

    /// `settled(where:)` with `column IN (…)`, 500 values a statement.
    private func settled(whereAnyOf values: Set<UUID>, in column: String) async throws -> [SettledInstance] {
        let values = Array(values)
        var found: [SettledInstance] = []
        for start in stride(from: 0, to: values.count, by: 500) {
            found += try await settled(where: "\(unsafeRaw: column) IN (\(binds: Array(values[start..<min(start + 500, values.count)])))")
        }
        return found
    }

    /// The settled instances that also meet `condition` (on `i`), joined with their VM's id and domain UUID; every
    /// column but `config`.
    private func settled(where condition: SQLQueryString) async throws -> [SettledInstance] {
        try await database.sql.raw("""
            SELECT \(unsafeRaw: Self.columnsButConfig("i.")), v.id AS settled_vm_id, v.vm_uuid AS settled_vm_uuid FROM instances i
            LEFT JOIN virtual_machines v ON v.id = i.virtual_machine_id
            WHERE i.status IN ('RUNNING', 'STOPPED', 'ERROR') AND \(condition)
            """).all().map { row in
            SettledInstance(instance: try RowCodec.decode(Instance.self, from: row),
                            hasVm: !(try row.decodeNil(column: "settled_vm_id")),
                            vmUuid: try row.decode(column: "settled_vm_uuid", as: String?.self))
        }
    }

    public func machinesWithChanges(since: Date) async throws -> Set<UUID> {
        Set(try await database.sql.raw("""
            SELECT DISTINCT compute_machine_id FROM instances WHERE updated_at > \(bind: since) AND compute_machine_id IS NOT NULL
            """).all().map { try $0.decode(column: "compute_machine_id", as: UUID.self) })
    }

    public func inTransition(unchangedSince before: Date) async throws -> [Instance] {
        try await database.sql.raw("""
            SELECT * FROM instances WHERE status IN ('CREATING', 'STARTING', 'STOPPING', 'DELETING') AND updated_at < \(bind: before)
            """).all().map { try RowCodec.decode(Instance.self, from: $0) }
    }

    public func residents(of machineId: UUID) async throws -> [Instance] {
        try await database.sql.raw("""
            SELECT * FROM instances WHERE compute_machine_id = \(bind: machineId) AND status NOT IN ('DELETED', 'DELETING')
            """).all().map { try RowCodec.decode(Instance.self, from: $0) }
    }

    public func liveCount(on machineId: UUID) async throws -> Int {
        try await database.sql.raw("""
            SELECT COUNT(*) AS n FROM instances WHERE compute_machine_id = \(bind: machineId) AND status <> 'DELETED'
            """).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    public func virtualMachine(_ id: UUID, in tx: Transaction) async throws -> VirtualMachine? { try await vms.find(id, on: tx.db) }

    public func virtualMachine(uuid: UUID, in tx: Transaction) async throws -> VirtualMachine? {
        try await vms.first(where: [try .equal("vmUuid", uuid.uuidString)], on: tx.db)
    }

    public func insert(_ vm: VirtualMachine, in tx: Transaction) async throws { try await vms.insert(vm, on: tx.db) }
    public func update(_ vm: VirtualMachine, in tx: Transaction) async throws { _ = try await vms.update(vm, on: tx.db) }

    public func updatePlacement(_ instance: Instance, withConfig: Bool, in tx: Transaction) async throws {
        var columns: [(column: String, value: any SQLExpression)] = [
            ("compute_machine_id", try RowCodec.bind(optional: instance.computeMachineId)),
            ("resource_pool_id", try RowCodec.bind(optional: instance.resourcePoolId)),
            ("virtual_machine_id", try RowCodec.bind(optional: instance.virtualMachineId)),
        ]
        if withConfig { columns.append(("config", try RowCodec.bind(instance.config))) }
        try await table.update(instance.id, set: columns, on: tx.db)
    }

    public func updateStatus(_ vm: VirtualMachine, in tx: Transaction) async throws {
        try await vms.update(vm.id, set: [("status", try RowCodec.bind(vm.status)), ("updated_at", try RowCodec.bind(vm.updatedAt))], on: tx.db)
    }

    public func liveDomainUuids(on machines: Set<UUID>) async throws -> [UUID: Set<String>] {
        let machines = Array(machines)
        var live: [UUID: Set<String>] = [:]
        for start in stride(from: 0, to: machines.count, by: 500) {
            for row in try await database.sql.raw("""
                SELECT compute_machine_id, vm_uuid FROM virtual_machines
                WHERE compute_machine_id IN (\(binds: Array(machines[start..<min(start + 500, machines.count)])))
                  AND status <> 'DELETED' AND vm_uuid IS NOT NULL
                """).all() {
                live[try row.decode(column: "compute_machine_id", as: UUID.self), default: []]
                    .insert(try row.decode(column: "vm_uuid", as: String.self).uppercased())
            }
        }
        return live
    }

    public func knownDomains(_ uuids: Set<String>) async throws -> [String: Date] {
        guard !uuids.isEmpty else { return [:] }
        let wanted = uuids.flatMap { [$0.uppercased(), $0.lowercased()] }
        var known: [String: Date] = [:]
        for row in try await database.sql.select().column("vm_uuid").column("updated_at").from(vms.name).where("vm_uuid", .in, wanted).all() {
            let uuid = try row.decode(column: "vm_uuid", as: String.self).uppercased()
            let changed = try row.decode(column: "updated_at", as: Date.self)
            known[uuid] = max(known[uuid] ?? changed, changed)
        }
        return known
    }
}
