import Foundation
import SQLKit
import ZedgeCore

/// One host's heartbeat as the liveness flush writes it.
public struct HeartbeatRecord: Sendable {
    public enum Host: Sendable {
        /// `health` nil leaves the stored health as it is.
        case computeMachine(health: HealthStatus?, observedVms: [ObservedVm])
        case cloudBox(HostMetrics)
    }

    public var id: UUID
    public var at: Date
    public var host: Host

    public init(id: UUID, at: Date, host: Host) {
        self.id = id
        self.at = at
        self.host = host
    }
}

/// A host whose status a flush changed (an OFFLINE machine or box that heartbeats again).
public struct HostReturned: Sendable {
    public var action: String
    public var host: UUID
    public var at: Date
}

/// ComputeMachines and CloudBoxes as hosts: their liveness, what their agents reported, the facts an
/// enrollment writes, and the operator's changes (DESIGN §4, §5).
public protocol HostRepository: Sendable {
    /// Writes a batch of heartbeats in one transaction: machines' last heartbeat and health, boxes' readings,
    /// (with PostgreSQL) the VMs machines reported, and metric samples. Returns the hosts that came back.
    func recordHeartbeats(_ beats: [HeartbeatRecord], samples: [MetricSample]) async throws -> [HostReturned]
    /// ACTIVE machines whose stored heartbeat is at least as old as `cutoff`, or missing.
    func machinesPossiblySilent(cutoff: Date) async throws -> [ComputeMachine]
    /// ONLINE CloudBoxes whose stored heartbeat is at least as old as `cutoff`, or missing.
    func cloudBoxesPossiblySilent(cutoff: Date) async throws -> [CloudBox]
    /// Sets the machine's status if it is still `expected`; false when an operator's change came first.
    func setStatus(machine id: UUID, to status: ComputeMachineStatus, expecting expected: ComputeMachineStatus, now: Date) async throws -> Bool
    func setStatus(cloudBox id: UUID, to status: CloudBoxStatus, expecting expected: CloudBoxStatus, now: Date) async throws -> Bool
    /// Every machine (of one pool, when given).
    func machines(inPool poolId: UUID?) async throws -> [ComputeMachine]
    /// The ids of machines that are not OFFLINE.
    func reachableMachineIds() async throws -> [UUID]
    /// What each machine last reported about its VMs, as any replica received it (PostgreSQL only; empty on SQLite).
    func sharedObservations() async throws -> [UUID: (at: Date, observedVms: [ObservedVm])]
    /// Adds a machine or rewrites its facts (never its allocated counters), syncs its GPUs and its pool's and
    /// data center's totals, in one transaction.
    func enroll(_ machine: ComputeMachine, isNew: Bool, previousPool: UUID?, gpuAddresses: [String]?) async throws
    /// Writes what an operator may change on a machine: name, status, rental mode, business IP, tags.
    func updateOperatorFields(_ machine: ComputeMachine) async throws
    /// Stores each machine's reported integration bridge (nil: none) as `connectionConfig["integrationBridge"]`
    /// where it differs from the stored one, in one transaction; returns the machines it changed. Removed
    /// machines are skipped.
    func syncIntegrationBridges(_ reported: [UUID: String?], now: Date) async throws -> [UUID]
    /// Removes a machine that holds no live instance, with what only described its past (released claims,
    /// VM rows, observations); deleted instances keep their history. 409 while instances remain.
    func remove(_ machine: ComputeMachine) async throws
    /// Writes what an operator may change on a CloudBox: name, location, disabled, assigned user, tags.
    func updateOperatorFields(_ box: CloudBox) async throws
    /// CloudBoxes whose binding expired at or before `now`.
    func expiredBindings(now: Date) async throws -> [CloudBox]
    /// Reads a CloudBox for a change, holding it for the rest of the transaction.
    func lockCloudBox(_ id: UUID, in tx: Transaction) async throws -> CloudBox?
    func update(_ box: CloudBox, in tx: Transaction) async throws
}

public struct SQLHostRepository: HostRepository, DatabaseBacked {
    let database: Database
    let capacity = SQLCapacityRepository()
    let machinesTable = Tables.computeMachines
    let boxes = Tables.cloudBoxes
    /// Machines written per UPDATE statement by a flush.
    let machineBatch = 200

    public init(database: Database) {
        self.database = database
    }

    /// Machines are written a batch at a time (`machineBatch` per statement, each row its own last heartbeat
    /// and health) and metric samples in multi-row inserts, so that a flush of thousands of heartbeats is a
    /// few statements: it holds SQLite's one connection for milliseconds.
    public func recordHeartbeats(_ beats: [HeartbeatRecord], samples: [MetricSample]) async throws -> [HostReturned] {
        let machineBatch = self.machineBatch, engine = database.engine
        return try await database.transaction { tx in
            let db = tx.db
            var returned: [HostReturned] = []
            let machines = beats.compactMap { beat -> (id: UUID, at: Date, health: HealthStatus?, vms: [ObservedVm])? in
                guard case .computeMachine(let health, let vms) = beat.host else { return nil }
                return (beat.id, beat.at, health, vms)
            }
            for start in stride(from: 0, to: machines.count, by: machineBatch) {
                let batch = Array(machines[start..<min(start + machineBatch, machines.count)])
                // UPDATE … SET last_heartbeat = CASE id WHEN … END, health_status = CASE id WHEN … END WHERE id IN (…)
                var query: SQLQueryString = "UPDATE compute_machines SET last_heartbeat = CASE id"
                for beat in batch { query += " WHEN \(bind: beat.id) THEN \(bind: beat.at)" }
                query += " END"
                let judged = batch.compactMap { beat in beat.health.map { (beat.id, $0) } }
                if !judged.isEmpty {
                    query += ", health_status = CASE id"
                    for (id, health) in judged { query += " WHEN \(bind: id) THEN \(bind: health.rawValue)" }
                    query += " ELSE health_status END"
                }
                query += " WHERE id IN (\(binds: batch.map(\.id)))"
                try await db.raw(query).run()
                let at = Dictionary(batch.map { ($0.id, $0.at) }, uniquingKeysWith: { $1 })
                let back = try await db.update("compute_machines").set("status", to: ComputeMachineStatus.active.rawValue)
                    .where("id", .in, batch.map(\.id)).where("status", .equal, ComputeMachineStatus.offline.rawValue)
                    .returning("id").all()
                for row in back {
                    let host = try row.decode(column: "id", as: UUID.self)
                    returned.append(HostReturned(action: "compute-machine.online", host: host, at: at[host] ?? Date()))
                }
            }
            for beat in beats {
                guard case .cloudBox(let m) = beat.host else { continue }
                try await db.update("cloud_boxes")
                    .set("last_heartbeat", to: beat.at)
                    .set("cpu_usage_percent", to: m.cpuUsagePercent).set("memory_usage_percent", to: m.memoryUsagePercent)
                    .set("disk_usage_percent", to: m.diskUsagePercent).set("temperature", to: m.temperature)
                    .set("uptime_seconds", to: m.uptimeSeconds)
                    .where("id", .equal, beat.id).run()
                let back = try await db.update("cloud_boxes").set("status", to: CloudBoxStatus.online.rawValue)
                    .where("id", .equal, beat.id)
                    .where("status", .in, [CloudBoxStatus.offline.rawValue, CloudBoxStatus.initializing.rawValue])
                    .returning("id").all()
                if !back.isEmpty { returned.append(HostReturned(action: "cloud-box.online", host: beat.id, at: beat.at)) }
            }
            // Several replicas: the leader's reconciler needs the VMs every host reported, wherever it landed.
            if engine == .postgres {
                for beat in machines {
                    let vms = try RowCodec.bind(beat.vms)
                    try await db.raw("""
                        INSERT INTO host_observations (id, observed_at, observed_vms) VALUES (\(bind: beat.id), \(bind: beat.at), \(vms))
                        ON CONFLICT (id) DO UPDATE SET observed_at = EXCLUDED.observed_at, observed_vms = EXCLUDED.observed_vms
                        WHERE host_observations.observed_at < EXCLUDED.observed_at
                        """).run()
                }
            }
            // A host removed since its heartbeat arrived has no row to refer to: its samples are dropped, or
            // their foreign key would fail this flush, and every later one, for every host.
            let existing = try await Self.existing(Set(samples.compactMap(\.computeMachineId)), in: "compute_machines", batch: machineBatch, on: db)
                .union(try await Self.existing(Set(samples.compactMap(\.cloudBoxId)), in: "cloud_boxes", batch: machineBatch, on: db))
            let kept = samples.filter { sample in (sample.computeMachineId ?? sample.cloudBoxId).map(existing.contains) ?? false }
            try await Tables.metricSamples.insert(kept, on: db)
            return returned
        }
    }

    /// Which of `ids` still have a row in `table`, asked `batch` ids at a time (bind parameters are bounded).
    static func existing(_ ids: Set<UUID>, in table: String, batch: Int, on db: any SQLDatabase) async throws -> Set<UUID> {
        let ids = Array(ids)
        var found: Set<UUID> = []
        for start in stride(from: 0, to: ids.count, by: batch) {
            found.formUnion(try await db.select().column("id").from(table).where("id", .in, Array(ids[start..<min(start + batch, ids.count)]))
                .all().map { try $0.decode(column: "id", as: UUID.self) })
        }
        return found
    }

    func possiblySilent<Model: Decodable>(_ table: String, status: String, cutoff: Date, as type: Model.Type) async throws -> [Model] {
        try await database.sql.select().column("*").from(table)
            .where("status", .equal, status)
            .where(group: { $0.where("last_heartbeat", .lessThanOrEqual, cutoff).orWhere("last_heartbeat", .is, SQLLiteral.null) })
            .orderBy("id")
            .all().map { try RowCodec.decode(type, from: $0) }
    }

    public func machinesPossiblySilent(cutoff: Date) async throws -> [ComputeMachine] {
        try await possiblySilent("compute_machines", status: ComputeMachineStatus.active.rawValue, cutoff: cutoff, as: ComputeMachine.self)
    }

    public func cloudBoxesPossiblySilent(cutoff: Date) async throws -> [CloudBox] {
        try await possiblySilent("cloud_boxes", status: CloudBoxStatus.online.rawValue, cutoff: cutoff, as: CloudBox.self)
    }

    public func setStatus(machine id: UUID, to status: ComputeMachineStatus, expecting expected: ComputeMachineStatus, now: Date) async throws -> Bool {
        try await database.sql.update("compute_machines").set("status", to: status.rawValue).set("updated_at", to: now)
            .where("id", .equal, id).where("status", .equal, expected.rawValue).returning("id").all().count == 1
    }

    public func setStatus(cloudBox id: UUID, to status: CloudBoxStatus, expecting expected: CloudBoxStatus, now: Date) async throws -> Bool {
        try await database.sql.update("cloud_boxes").set("status", to: status.rawValue).set("updated_at", to: now)
            .where("id", .equal, id).where("status", .equal, expected.rawValue).returning("id").all().count == 1
    }

    public func machines(inPool poolId: UUID?) async throws -> [ComputeMachine] {
        var query = database.sql.select().column("*").from("compute_machines")
        if let poolId { query = query.where("resource_pool_id", .equal, poolId) }
        return try await query.all().map { try RowCodec.decode(ComputeMachine.self, from: $0) }
    }

    public func reachableMachineIds() async throws -> [UUID] {
        try await database.sql.raw("SELECT id FROM compute_machines WHERE status <> 'OFFLINE'").all()
            .map { try $0.decode(column: "id", as: UUID.self) }
    }

    public func sharedObservations() async throws -> [UUID: (at: Date, observedVms: [ObservedVm])] {
        guard database.engine == .postgres else { return [:] }
        var stored: [UUID: (at: Date, observedVms: [ObservedVm])] = [:]
        for row in try await database.sql.raw("SELECT id, observed_at, observed_vms FROM host_observations").all() {
            let vms = try ZedgeJSON.decoder().decode([ObservedVm].self, from: Data(try row.decode(column: "observed_vms", as: String.self).utf8))
            stored[try row.decode(column: "id", as: UUID.self)] = (try row.decode(column: "observed_at", as: Date.self), vms)
        }
        return stored
    }

    public func enroll(_ machine: ComputeMachine, isNew: Bool, previousPool: UUID?, gpuAddresses: [String]?) async throws {
        let capacity = self.capacity, table = machinesTable
        try await database.transaction { tx in
            // Rows locked first, always in the same order: inserting a machine takes a key-share lock on its
            // pool, so locking the pool only afterwards would deadlock two concurrent registrations.
            try await capacity.lockTotals(poolIds: [machine.resourcePoolId] + (previousPool.map { [$0] } ?? []),
                                          dataCenterId: machine.edgeDataCenterId, in: tx)
            if isNew {
                try await table.insert(machine, on: tx.db)
            } else {
                // Only the facts: the allocated counters belong to claims running concurrently.
                try await tx.db.update("compute_machines")
                    .set("hostname", to: machine.hostname).set("resource_pool_id", to: machine.resourcePoolId)
                    .set("cpu_cores", to: machine.cpuCores).set("memory_gb", to: machine.memoryGb).set("storage_gb", to: machine.storageGb)
                    .set("gpu_count", to: machine.gpuCount).set("gpu_model", to: machine.gpuModel)
                    .set("hypervisor_type", to: machine.hypervisorType.rawValue).set("updated_at", to: machine.updatedAt)
                    .set("connection_config", to: try machine.connectionConfig.map { try RowCodec.bind($0) } ?? SQLLiteral.null)
                    .where("id", .equal, machine.id).run()
            }
            if let gpuAddresses {
                try await capacity.syncGpus(machineId: machine.id, addresses: gpuAddresses, model: machine.gpuModel, in: tx)
            }
            try await capacity.refreshTotals(poolId: machine.resourcePoolId, dataCenterId: machine.edgeDataCenterId, in: tx)
            if let previousPool, previousPool != machine.resourcePoolId {
                try await capacity.refreshTotals(poolId: previousPool, dataCenterId: nil, in: tx)
            }
        }
    }

    public func updateOperatorFields(_ machine: ComputeMachine) async throws {
        do {
            try await database.sql.update("compute_machines").set("name", to: machine.name)
                .set("status", to: machine.status.rawValue).set("rental_mode", to: machine.rentalMode.rawValue)
                .set("business_ip", to: machine.businessIp).set("tags", to: try machine.tags.map { try RowCodec.bind($0) } ?? SQLLiteral.null)
                .set("updated_at", to: machine.updatedAt).where("id", .equal, machine.id).run()
        } catch {
            throw ConstraintViolation.map(error, resource: machinesTable.resource, operation: .write)
        }
    }

    public func syncIntegrationBridges(_ reported: [UUID: String?], now: Date) async throws -> [UUID] {
        let batchSize = machineBatch, table = machinesTable
        return try await database.transaction { tx in
            var changed: [UUID] = []
            let ids = Array(reported.keys)
            for start in stride(from: 0, to: ids.count, by: batchSize) {
                let batch = Array(ids[start..<min(start + batchSize, ids.count)])
                for row in try await tx.db.select().column("id").column("connection_config").from(table.name)
                    .where("id", .in, batch).all() {
                    let id = try row.decode(column: "id", as: UUID.self)
                    let stored = try row.decode(column: "connection_config", as: String?.self)
                        .map { try JSONValue(parsing: $0) }
                    var config = stored?.objectValue ?? [:]
                    let bridge = reported[id] ?? nil
                    guard config[ComputeMachine.integrationBridgeKey]?.stringValue != bridge else { continue }
                    config[ComputeMachine.integrationBridgeKey] = bridge.map { .string($0) }
                    try await tx.db.update(table.name)
                        .set("connection_config", to: try RowCodec.bind(JSONValue.object(config)))
                        .set("updated_at", to: now)
                        .where("id", .equal, id).run()
                    changed.append(id)
                }
            }
            return changed
        }
    }

    public func remove(_ machine: ComputeMachine) async throws {
        let capacity = self.capacity, table = machinesTable
        try await database.transaction { tx in
            let db = tx.db
            try await capacity.lockTotals(poolIds: [machine.resourcePoolId], dataCenterId: machine.edgeDataCenterId, in: tx)
            let live = try await db.raw("""
                SELECT COUNT(*) AS n FROM instances WHERE compute_machine_id = \(bind: machine.id) AND status <> 'DELETED'
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            guard live == 0 else {
                throw ConstraintViolation.stillReferenced(
                    resource: table.resource, by: [.init("instance", count: live, field: "instances.computeMachineId")])
            }
            // What only described the machine's past goes with it; deleted instances keep their history.
            try await db.raw("UPDATE instances SET compute_machine_id = NULL WHERE compute_machine_id = \(bind: machine.id)").run()
            try await db.raw("DELETE FROM capacity_claims WHERE compute_machine_id = \(bind: machine.id) AND released_at IS NOT NULL").run()
            try await db.raw("DELETE FROM virtual_machines WHERE compute_machine_id = \(bind: machine.id)").run()
            try await db.raw("DELETE FROM host_observations WHERE id = \(bind: machine.id)").run()
            try await table.delete(machine.id, on: db)
            try await capacity.refreshTotals(poolId: machine.resourcePoolId, dataCenterId: machine.edgeDataCenterId, in: tx)
        }
    }

    public func updateOperatorFields(_ box: CloudBox) async throws {
        do {
            try await database.sql.update("cloud_boxes").set("name", to: box.name).set("location", to: box.location)
                .set("is_disabled", to: box.isDisabled).set("assigned_user_id", to: box.assignedUserId)
                .set("tags", to: try box.tags.map { try RowCodec.bind($0) } ?? SQLLiteral.null)
                .set("updated_at", to: box.updatedAt).where("id", .equal, box.id).run()
        } catch {
            throw ConstraintViolation.map(error, resource: boxes.resource, operation: .write)
        }
    }

    public func expiredBindings(now: Date) async throws -> [CloudBox] {
        try await database.sql.select().column("*").from("cloud_boxes")
            .where("temporary_bind_expires_at", .lessThanOrEqual, now).all().map { try RowCodec.decode(CloudBox.self, from: $0) }
    }

    public func lockCloudBox(_ id: UUID, in tx: Transaction) async throws -> CloudBox? {
        try await tx.lock(boxes, id)
        return try await boxes.find(id, on: tx.db)
    }

    public func update(_ box: CloudBox, in tx: Transaction) async throws {
        _ = try await boxes.update(box, on: tx.db)
    }
}
