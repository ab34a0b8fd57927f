import Foundation
import Logging
import Synchronization
import ZedgeCore

/// Drives every settled instance's `status` toward its `desiredStatus` and repairs drift that agents
/// report in their heartbeats (a domain stopped that should run, one running that should be stopped, one
/// missing, one the coordinator does not know), and stops instances that have run for their `timeoutS`.
/// Decisions are `InstanceLifecycle.reconcile`'s; this gathers the facts and sends the tasks. The
/// composition root runs `pass` in a `LeaderLoop`.
public struct InstanceReconciler: Sendable {
    let service: InstanceService
    let cloudBoxes: CloudBoxService
    let hosts: any HostRepository
    /// Disk attachments against the disks the same heartbeats report.
    let disks: DiskReconciler
    let tracker: LivenessTracker
    /// Heartbeats older than this say nothing about a host's domains.
    let freshness: TimeInterval
    /// How long an instance stays in ERROR before the next try to repair it (`InstanceLifecycle.reconcile`).
    let errorRetryAfter: TimeInterval
    /// How often a pass reads every settled instance again (the others read only what changed).
    let fullPassInterval: TimeInterval
    /// Counts passes and the instances they read.
    let metrics: ReplicaMetrics?
    let logger: Logger
    let orphans = OrphanLedger()
    let ledger = ReconcileLedger()

    public init(
        service: InstanceService, cloudBoxes: CloudBoxService, hosts: any HostRepository,
        disks: DiskReconciler, tracker: LivenessTracker, freshness: TimeInterval,
        errorRetryAfter: TimeInterval = 60, fullPassInterval: TimeInterval = 600, metrics: ReplicaMetrics? = nil, logger: Logger
    ) {
        self.metrics = metrics
        self.fullPassInterval = fullPassInterval
        self.errorRetryAfter = errorRetryAfter
        self.disks = disks
        self.service = service
        self.cloudBoxes = cloudBoxes
        self.hosts = hosts
        self.tracker = tracker
        self.freshness = freshness
        self.logger = logger
    }

    /// One look at the settled instances that may need a step, against every fresh host report: every one on a full
    /// pass (the first, then one every `fullPassInterval`); otherwise only those on machines whose report says
    /// something new or whose instances changed since the last pass, those whose operation ended since, and those
    /// the clock may move (ERROR, `timeoutS`) (`ReconcileLedger`). What it read and how long it took are recorded
    /// in `metrics` once the whole pass has run.
    public func pass(now: Date) async throws {
        let began = Date(), clock = ContinuousClock(), started = clock.now
        let inFlight = try await service.tasks.resourcesInFlight()
        let reports = HostReports(tracker: tracker, stored: try await hosts.sharedObservations())
        let full = ledger.isFullPassDue(now: now, interval: fullPassInterval)
        /// The fresh report of a machine, if any.
        func fresh(_ machineId: UUID) -> HostReports.Report? {
            reports.latest(machineId).flatMap { now.timeIntervalSince($0.at) <= freshness ? $0 : nil }
        }
        var candidates: [SettledInstance]
        var machines: Set<UUID>
        if full {
            candidates = try await service.instances.settled(on: nil)
            machines = Set(try await hosts.reachableMachineIds()).union(candidates.compactMap(\.instance.computeMachineId))
        } else {
            let (changesFrom, wereInFlight) = ledger.since
            let changed = if let changesFrom { try await service.instances.machinesWithChanges(since: changesFrom) } else { Set<UUID>() }
            machines = []
            for machineId in Set(try await hosts.reachableMachineIds()).union(changed) {
                let judged = ledger.judged(machineId)
                guard let report = fresh(machineId) else {
                    if judged != nil { machines.insert(machineId) }  // forgotten below: judged afresh once it reports again
                    continue
                }
                if changed.contains(machineId) || judged == nil || judged?.unjudgedChange != nil
                    || judged?.fingerprint != ReconcileLedger.fingerprint(report.observedVms) {
                    machines.insert(machineId)
                }
            }
            let examined = machines.filter { fresh($0) != nil }
            candidates = examined.isEmpty ? [] : try await service.instances.settled(on: examined)
            var seen = Set(candidates.map(\.instance.id))
            let ended = wereInFlight.subtracting(inFlight)
            let others = try await service.instances.settledOnTheClock() + (ended.isEmpty ? [] : try await service.instances.settled(ids: ended))
            for other in others where seen.insert(other.instance.id).inserted { candidates.append(other) }
        }
        var judged: [UUID: ReconcileLedger.Judged?] = [:]
        for machineId in machines {
            judged[machineId] = fresh(machineId).map {
                ReconcileLedger.Judged(fingerprint: ReconcileLedger.fingerprint($0.observedVms), reportAt: $0.at, unjudgedChange: nil)
            }
        }
        for candidate in candidates {
            let instance = candidate.instance
            var observation: InstanceLifecycle.Observation?
            if let machineId = instance.computeMachineId, let beat = fresh(machineId) {
                if beat.at > instance.updatedAt {
                    if candidate.hasVm {
                        let vmUuid = candidate.vmUuid ?? ""
                        observation = .init(state: beat.observedVms.first { $0.vmUuid.caseInsensitiveCompare(vmUuid) == .orderedSame }?.state)
                    }
                } else if machines.contains(machineId), judged[machineId] != nil {
                    // Changed after the report: judged by a newer one, so the machine is read again until it comes.
                    let unjudged = judged[machineId]??.unjudgedChange
                    judged[machineId]??.unjudgedChange = max(unjudged ?? instance.updatedAt, instance.updatedAt)
                }
            }
            guard let step = InstanceLifecycle.reconcile(instance, observation: observation, inFlight: inFlight.contains(instance.id), now: now,
                                                          errorRetryAfter: errorRetryAfter)
            else { continue }
            do {
                try await service.repair(instance.id, step, expecting: instance.updatedAt, now: now)
            } catch let error as DomainError where error.kind == .conflict {
                continue  // changed under us: the next pass looks again
            }
        }
        ledger.record(passBegan: began, now: now, full: full, judged: judged, inFlight: inFlight)
        try await recoverLostOutcomes(now: now)
        try await collectOrphans(reports, on: full ? nil : machines, now: now)
        try await disks.pass(reports, freshness: freshness, now: now)
        try await cloudBoxes.expireBindings(now: now)
        metrics?.reconciled(full: full, instancesRead: candidates.count, began: began, duration: clock.now - started)
    }

    /// Outcomes lost to a crash of the coordinator between a task's end (stored) and its effect on the instance (a
    /// separate transaction): an instance still in a transitional status whose latest operation's tasks have all
    /// finished gets their outcomes applied again (`InstanceService.taskFinished` is idempotent), and the operation
    /// is brought up to date. Without it the instance would wait forever: the agent's result was accepted, so it is
    /// never sent again. Operations on an instance set or a machine (evacuation) are not found this way.
    func recoverLostOutcomes(now: Date) async throws {
        for instance in try await service.instances.inTransition(unchangedSince: now.addingTimeInterval(-Self.outcomeGrace)) {
            do {
                try await recoverLostOutcome(of: instance, now: now)
            } catch {
                // One instance's trouble must not hold up the others, nor the rest of the pass.
                logger.warning("could not apply a lost outcome", metadata: ["instance": "\(instance.id)", "error": "\(error)"])
            }
        }
    }

    /// `recoverLostOutcomes` for one instance.
    func recoverLostOutcome(of instance: Instance, now: Date) async throws {
        let service = self.service
        guard let operation = try await service.dispatcher.transactions.run({ tx in
            try await service.tasks.latestOperation(resourceId: instance.id, in: tx)
        }) else { return }
        let tasks = try await service.tasks.tasks(operationId: operation.id)
        guard !tasks.isEmpty, tasks.allSatisfy(\.status.isTerminal) else { return }
        if !operation.status.isTerminal {
            for task in tasks {
                try await service.tasks.updateOperation(operation.id) { TaskLifecycle.apply(task, to: $0, now: now) }
            }
        }
        for task in tasks.sorted(by: { ($0.finishedAt ?? $0.updatedAt) < ($1.finishedAt ?? $1.updatedAt) }) {
            try await service.taskFinished(task, now: now)
        }
        logger.notice("applied the lost outcome of a finished task", metadata: ["instance": "\(instance.id)", "operation": "\(operation.id)"])
    }

    /// How long an instance may stay in transition after its tasks have all finished before their outcome counts as lost.
    static let outcomeGrace: TimeInterval = 5

    /// Domains this coordinator made (named "zedge-…", and a VM of its database has had their UUID) that no live VM
    /// on their host explains get a `vm.delete`: those of deleted instances, and those left behind by an evacuation.
    /// A domain this database never knew is left alone, whoever made it (another deployment sharing the host's
    /// libvirtd, an operator's direct task), as Nova reaps only the running instances it has marked deleted.
    ///
    /// Looks at `machines` (every reachable one when nil: a full pass): an incremental pass gives those whose report
    /// or instances changed, which is where an orphan appears (a report listing a new domain, an instance deleted, a
    /// machine back from OFFLINE after an evacuation); a `vm.delete` that failed is sent again by the next full pass.
    ///
    /// Only a report newer than the VM's last change counts, as for an instance's drift: a heartbeat that listed the
    /// domain before its `vm.delete` ran, or while it ran, says nothing about whether it survived (each delete had
    /// sent a second `vm.delete` for its own domain, as an orphan). The machine is then read again until a newer
    /// report comes (`ReconcileLedger.awaitNewerReport`).
    func collectOrphans(_ reports: HostReports, on machines: Set<UUID>?, now: Date) async throws {
        var reported: [UUID: (at: Date, vms: [ObservedVm])] = [:]
        let examined = if let machines { Array(machines) } else { try await hosts.reachableMachineIds() }
        for machineId in examined {
            guard let beat = reports.latest(machineId), now.timeIntervalSince(beat.at) <= freshness else { continue }
            let candidates = beat.observedVms.filter { $0.vmName.hasPrefix("zedge-") }
            if !candidates.isEmpty { reported[machineId] = (beat.at, candidates) }
        }
        guard !reported.isEmpty else { return }
        let liveByMachine = try await service.instances.liveDomainUuids(on: Set(reported.keys))
        for (machineId, report) in reported {
            var candidates = report.vms
            let live = liveByMachine[machineId] ?? []
            candidates.removeAll { live.contains($0.vmUuid.uppercased()) }
            guard !candidates.isEmpty else { continue }
            let ours = try await service.instances.knownDomains(Set(candidates.map { $0.vmUuid.uppercased() }))
            for vm in candidates {
                guard let changed = ours[vm.vmUuid.uppercased()] else { continue }  // never this coordinator's
                guard report.at > changed else {
                    ledger.awaitNewerReport(machineId, than: changed)
                    continue
                }
                guard orphans.shouldSend(vm.vmUuid, now: now), let uuid = UUID(uuidString: vm.vmUuid) else { continue }
                try await service.deleteOrphan(uuid: uuid, name: vm.vmName, on: machineId, now: now)
                logger.notice("orphan domain sent vm.delete", metadata: ["machine": "\(machineId)", "domain": "\(vm.vmName)"])
            }
        }
    }
}

extension InstanceService {
    /// Carries out a reconcile step, if the instance has not changed since it was read.
    func repair(_ instanceId: UUID, _ step: ReconcileStep, expecting updatedAt: Date, now: Date) async throws {
        guard let current = try await instances.find(instanceId), let machineId = current.computeMachineId,
              let machine = try await computeMachines.find(machineId) else { return }
        let service = self
        let dataDisks = try await diskAttachments.dataDisks(instanceId: instanceId)
        let reason = step.reason
        let accepted = try await change(instanceId, userId: nil, now: now) { instance, vm in
            guard instance.updatedAt == updatedAt else { throw DomainError.conflict("changed") }
            switch step {
            case .start:
                return Change(status: .starting, desiredStatus: instance.desiredStatus, vmStatus: .starting,
                              task: (.vmStart, try service.payload(for: .vmStart, vm: vm)), operationKind: "instance.reconcile")
            case .stop(_, let desiredStopped):
                return Change(status: .stopping, desiredStatus: desiredStopped ? .stopped : instance.desiredStatus, vmStatus: .stopping,
                              task: (.vmStop, try service.payload(for: .vmStop, vm: vm)), operationKind: "instance.reconcile")
            case .recreate:
                guard let vm, let config = try instance.config?.decode(as: ResolvedInstanceConfig.self) else {
                    throw DomainError.conflict("The instance has no VM or config to recreate from.")
                }
                return Change(status: .creating, desiredStatus: instance.desiredStatus, vmStatus: .creating,
                              task: (.vmCreate, try JSONValue(encoding: service.specs.createPayload(
                                  for: vm, instance: instance, machine: machine, config: config,
                                  start: instance.desiredStatus == .running, dataDisks: dataDisks))),
                              operationKind: "instance.reconcile")
            case .delete:
                return Change(status: .deleting, desiredStatus: .deleted, vmStatus: nil,
                              task: (.vmDelete, try service.payload(for: .vmDelete, vm: vm)), operationKind: "instance.reconcile")
            case .settle(let status, _):
                return Change(status: status, desiredStatus: instance.desiredStatus, vmStatus: status == .running ? .running : .stopped,
                              task: nil, operationKind: "instance.reconcile")
            }
        }
        logger.notice("instance reconciled", metadata: ["instance": "\(instanceId)", "reason": "\(reason)"])
        try await auditLogs.append(AuditLog(
            userId: nil, action: "instance.reconcile", resourceType: ResourceType.instance.rawValue, resourceId: instanceId,
            details: ["reason": .string(reason), "operationId": .string(accepted.operation.id.uuidString), "by": "reconciler"],
            status: .success))
    }

    /// Sends `vm.delete` for a domain no instance explains.
    func deleteOrphan(uuid: UUID, name: String, on machineId: UUID, now: Date) async throws {
        var plan = OperationPlan(kind: "vm.orphan-delete", userId: nil, resourceType: ResourceType.server.rawValue, resourceId: machineId,
                                 request: ["vmUuid": .string(uuid.uuidString), "vmName": .string(name)])
        plan.task(.vmDelete, for: .computeMachine(machineId), payload: try JSONValue(encoding: VmRefPayload(vmUuid: uuid, vmName: name)))
        try await dispatcher.submit(plan, now: now)
        try await auditLogs.append(AuditLog(
            userId: nil, action: "virtual-machine.orphan-delete", resourceType: ResourceType.server.rawValue, resourceId: machineId,
            details: ["vmUuid": .string(uuid.uuidString), "vmName": .string(name), "by": "reconciler"], status: .success))
    }
}
