import Foundation
import Logging
import ServiceLifecycle
import SQLKit
import Synchronization
import ZedgeCore

/// Drives every settled instance's `status` toward its `desiredStatus` and repairs drift that agents
/// report in their heartbeats (a domain stopped that should run, one running that should be stopped, one
/// missing, one the coordinator does not know), and stops instances that have run for their `timeoutS`.
/// Decisions are `InstanceLifecycle.reconcile`'s; this Service gathers the facts and sends the tasks.
public struct InstanceReconciler: Service {
    let service: InstanceService
    let cloudBoxes: CloudBoxService
    let tracker: LivenessTracker
    let interval: Duration
    /// Heartbeats older than this say nothing about a host's domains.
    let freshness: TimeInterval
    let leadership: Leadership
    let logger: Logger
    let orphans = OrphanLedger()

    public init(
        service: InstanceService, cloudBoxes: CloudBoxService, tracker: LivenessTracker, interval: Duration, freshness: TimeInterval,
        leadership: Leadership = Leadership(leading: true), logger: Logger
    ) {
        self.leadership = leadership
        self.service = service
        self.cloudBoxes = cloudBoxes
        self.tracker = tracker
        self.interval = interval
        self.freshness = freshness
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
            guard leadership.isLeader else { continue }
            do { try await pass(now: Date()) } catch {
                logger.error("reconcile pass failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// One look at every settled instance and every fresh host report.
    public func pass(now: Date) async throws {
        let sql = service.store.database.sql
        let inFlight = Set(try await sql.raw("""
            SELECT resource_id FROM operations WHERE status IN ('QUEUED', 'RUNNING') AND resource_id IS NOT NULL
            """).all().map { try $0.decode(column: "resource_id", as: UUID.self) })
        let settled = try await sql.raw("SELECT * FROM instances WHERE status IN ('RUNNING', 'STOPPED')").all()
            .map { try RowCodec.decode(Instance.self, from: $0) }
        let reports = try await HostReports.load(tracker: tracker, database: service.store.database)
        for instance in settled {
            var observation: InstanceLifecycle.Observation?
            if let machineId = instance.computeMachineId, let beat = reports.latest(machineId),
               now.timeIntervalSince(beat.at) <= freshness, beat.at > instance.updatedAt,
               let vm = try await instance.virtualMachineId.asyncMap({ try await service.store.virtualMachines.find($0) }) ?? nil {
                observation = .init(state: beat.observedVms.first { $0.vmUuid.caseInsensitiveCompare(vm.vmUuid ?? "") == .orderedSame }?.state)
            }
            guard let step = InstanceLifecycle.reconcile(instance, observation: observation, inFlight: inFlight.contains(instance.id), now: now)
            else { continue }
            do {
                try await service.repair(instance.id, step, expecting: instance.updatedAt, now: now)
            } catch let problem as Problem where problem.status == .conflict {
                continue  // changed under us: the next pass looks again
            }
        }
        try await collectOrphans(reports, now: now)
        try await cloudBoxes.expireBindings(now: now)
    }

    /// Domains Zedge made (named "zedge-…") that no live VM on their host explains get a `vm.delete`.
    func collectOrphans(_ reports: HostReports, now: Date) async throws {
        let sql = service.store.database.sql
        let machines = try await sql.raw("SELECT id FROM compute_machines WHERE status <> 'OFFLINE'").all()
            .map { try $0.decode(column: "id", as: UUID.self) }
        for machineId in machines {
            guard let beat = reports.latest(machineId), now.timeIntervalSince(beat.at) <= freshness else { continue }
            let candidates = beat.observedVms.filter { $0.vmName.hasPrefix("zedge-") }
            guard !candidates.isEmpty else { continue }
            let known = Set(try await sql.raw("""
                SELECT vm_uuid FROM virtual_machines WHERE compute_machine_id = \(bind: machineId) AND status <> 'DELETED' AND vm_uuid IS NOT NULL
                """).all().map { try $0.decode(column: "vm_uuid", as: String.self).uppercased() })
            for vm in candidates where !known.contains(vm.vmUuid.uppercased()) {
                // A domain whose VM row was written after this heartbeat is not an orphan: only act on
                // reports newer than the row could be (rows are written before their vm.create is sent).
                guard orphans.shouldSend(vm.vmUuid, now: now), let uuid = UUID(uuidString: vm.vmUuid) else { continue }
                try await service.deleteOrphan(uuid: uuid, name: vm.vmName, on: machineId, now: now)
                logger.notice("orphan domain sent vm.delete", metadata: ["machine": "\(machineId)", "domain": "\(vm.vmName)"])
            }
        }
    }
}

/// What each host last reported about its VMs: this replica's own heartbeats, and with PostgreSQL also those
/// other replicas received (`host_observations`), whichever is newer.
struct HostReports: Sendable {
    struct Report: Sendable {
        var at: Date
        var observedVms: [ObservedVm]
    }

    let tracker: LivenessTracker
    let stored: [UUID: Report]

    static func load(tracker: LivenessTracker, database: Database) async throws -> HostReports {
        guard database.engine == .postgres else { return HostReports(tracker: tracker, stored: [:]) }
        var stored: [UUID: Report] = [:]
        for row in try await database.sql.raw("SELECT id, observed_at, observed_vms FROM host_observations").all() {
            let vms = try ZedgeJSON.decoder().decode([ObservedVm].self, from: Data(try row.decode(column: "observed_vms", as: String.self).utf8))
            stored[try row.decode(column: "id", as: UUID.self)] = Report(at: try row.decode(column: "observed_at", as: Date.self), observedVms: vms)
        }
        return HostReports(tracker: tracker, stored: stored)
    }

    func latest(_ host: UUID) -> Report? {
        let own = tracker.latest(host).map { Report(at: $0.at, observedVms: $0.observedVms) }
        guard let other = stored[host] else { return own }
        guard let own else { return other }
        return own.at >= other.at ? own : other
    }
}

/// Remembers the orphans already sent a delete, so each gets one `vm.delete` per window, not one per pass.
final class OrphanLedger: Sendable {
    private let sent = Mutex<[String: Date]>([:])
    let window: TimeInterval = 300

    func shouldSend(_ uuid: String, now: Date) -> Bool {
        sent.withLock { sent in
            sent = sent.filter { now.timeIntervalSince($0.value) < window }
            guard sent[uuid] == nil else { return false }
            sent[uuid] = now
            return true
        }
    }
}

extension InstanceService {
    /// Carries out a reconcile step, if the instance has not changed since it was read.
    func repair(_ instanceId: UUID, _ step: ReconcileStep, expecting updatedAt: Date, now: Date) async throws {
        guard let current = try await store.instances.find(instanceId), let machineId = current.computeMachineId,
              let machine = try await store.computeMachines.find(machineId) else { return }
        let service = self
        let reason: String
        switch step {
        case .start(let r), .stop(let r, _), .recreate(let r): reason = r
        }
        let accepted = try await change(instanceId, userId: nil, now: now) { instance, vm in
            guard instance.updatedAt == updatedAt else { throw Problem.conflict("changed") }
            switch step {
            case .start:
                return Change(status: .starting, desiredStatus: instance.desiredStatus, vmStatus: .starting,
                              task: (.vmStart, try service.payload(for: .vmStart, vm: vm, instance: instance)), operationKind: "instance.reconcile")
            case .stop(_, let desiredStopped):
                return Change(status: .stopping, desiredStatus: desiredStopped ? .stopped : instance.desiredStatus, vmStatus: .stopping,
                              task: (.vmStop, try service.payload(for: .vmStop, vm: vm, instance: instance)), operationKind: "instance.reconcile")
            case .recreate:
                guard let vm, let config = try instance.config?.decode(as: ResolvedInstanceConfig.self) else {
                    throw Problem.conflict("The instance has no VM or config to recreate from.")
                }
                let spec = try service.spec(for: vm, machine: machine, config: config)
                return Change(status: .creating, desiredStatus: instance.desiredStatus, vmStatus: .creating,
                              task: (.vmCreate, try JSONValue(encoding: VmCreatePayload(spec: spec, start: instance.desiredStatus == .running))),
                              operationKind: "instance.reconcile")
            }
        }
        logger.notice("instance reconciled", metadata: ["instance": "\(instanceId)", "reason": "\(reason)"])
        try await store.auditLogs.append(AuditLog(
            userId: nil, action: "instance.reconcile", resourceType: ResourceType.instance.rawValue, resourceId: instanceId,
            details: ["reason": .string(reason), "operationId": .string(accepted.operation.id.uuidString), "by": "reconciler"],
            status: .success))
    }

    /// Sends `vm.delete` for a domain no instance explains.
    func deleteOrphan(uuid: UUID, name: String, on machineId: UUID, now: Date) async throws {
        let operationId = UUID.v7()
        let task = AgentTask(operationId: operationId, computeMachineId: machineId, kind: .vmDelete,
                             payload: try JSONValue(encoding: VmRefPayload(vmUuid: uuid, vmName: name)), createdAt: now, updatedAt: now)
        let operation = ZedgeCore.Operation(
            id: operationId, kind: "vm.orphan-delete", status: .queued, resourceType: ResourceType.server.rawValue, resourceId: machineId,
            steps: [OperationStep(name: TaskKind.vmDelete.rawValue, weight: 1, taskId: task.id)],
            request: ["vmUuid": .string(uuid.uuidString), "vmName": .string(name)], createdAt: now, updatedAt: now)
        try await queue.enqueue(operation, tasks: [task])
        try await store.auditLogs.append(AuditLog(
            userId: nil, action: "virtual-machine.orphan-delete", resourceType: ResourceType.server.rawValue, resourceId: machineId,
            details: ["vmUuid": .string(uuid.uuidString), "vmName": .string(name), "by": "reconciler"], status: .success))
    }
}
