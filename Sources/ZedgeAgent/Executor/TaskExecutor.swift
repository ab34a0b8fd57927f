#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// Carries out one task on the host and says how it ended; never throws (a failure is a FAILED result with
/// the reason). Every operation is idempotent, so a task delivered twice does its work once.
///
/// A ComputeMachine's executor has a `hypervisor` for the `vm.*` kinds and `rbd` for the `disk.*` kinds; a
/// CloudBox's has a `cloudBox` for the `cloudbox.*` kinds. A kind without its backend fails as not supported.
///
/// Payloads may carry a cephx key (`RbdCluster.cephKey`): it goes to libvirt's secret store only, never into a
/// result, and error messages are scrubbed of it.
public struct TaskExecutor: Sendable {
    let hypervisor: (any Hypervisor)?
    let cloudBox: (any CloudBoxControl)?
    /// Images, root-disk overlays, seeds and console logs (ComputeMachines); nil refuses `image.fetch`,
    /// `vm.create` with a root image or a seed, and console-log calls.
    let compute: ComputeResources?
    /// The host's integration bridge (its cached answer is refreshed when a VM needs it).
    let integrationBridge: IntegrationBridge?
    /// Asks whether the Open vSwitch bridges other than the integration bridge exist.
    let bridgeProbe: OVSBridgeProbe
    /// Ceph RBD images and their libvirt secrets and pools (ComputeMachines); nil refuses the `disk.*` kinds
    /// other than `disk.detach`, and a `vm.create` with `rbdClusters`.
    let rbd: RbdStorage?
    /// Console tunnels to the coordinator (ComputeMachines); nil refuses `vm.console-open` calls.
    let consoles: ConsoleTunnels?
    /// The VMs' graphics passwords, changed one at a time per VM (the console tunnels' own, so that a ticket used
    /// through a tunnel and a call that sets or rotates one are ordered); nil without a hypervisor.
    let tickets: GraphicsTickets?

    public init(hypervisor: (any Hypervisor)?, cloudBox: (any CloudBoxControl)? = nil, compute: ComputeResources? = nil,
                integrationBridge: IntegrationBridge? = nil, bridgeProbe: OVSBridgeProbe = .init(), rbd: RbdStorage? = nil,
                consoles: ConsoleTunnels? = nil) {
        self.consoles = consoles
        self.tickets = consoles?.tickets ?? hypervisor.map(GraphicsTickets.init(hypervisor:))
        self.hypervisor = hypervisor
        self.rbd = rbd
        self.cloudBox = cloudBox
        self.compute = compute
        self.integrationBridge = integrationBridge
        self.bridgeProbe = bridgeProbe
    }

    /// Runs one task. `progress` receives progress events of long steps (an image download), which also
    /// extend the task's lease. A cancelled run (the agent stopping) throws nothing and reports FAILED:
    /// callers check `Task.isCancelled` and do not journal that result.
    public func execute(_ kind: TaskKind, payload: JSONValue, progress: TaskProgress? = nil) async -> TaskResultReport {
        // Nothing is done with a payload that fails its kind's check (the one the coordinator ran when it queued
        // the task): FAILED naming every field, e.g. a vm.stop whose timeoutS is out of 0-3600.
        if supports(kind), let invalid = Self.invalid(kind.payloadProblems(payload)) {
            return .init(outcome: .failed, error: String(PayloadRedaction.scrub(invalid.error ?? "", secretsOf: payload).prefix(2000)))
        }
        do {
            switch kind {
            case .imageFetch:
                guard let compute else { return Self.unsupported(kind) }
                return try await fetchImage(payload: payload, compute: compute, progress: progress)
            case .vmCreate:
                guard let hypervisor else { return Self.unsupported(kind) }
                return try await createVm(payload: payload, on: hypervisor, progress: progress)
            case .vmDelete:
                guard let hypervisor else { return Self.unsupported(kind) }
                return try await deleteVm(payload: payload, on: hypervisor)
            case .vmStart, .vmStop, .vmRestart:
                guard let hypervisor else { return Self.unsupported(kind) }
                return try await executeVm(kind, payload: payload, on: hypervisor)
            case .cloudboxBind, .cloudboxUnbind, .cloudboxConfigureNetwork, .cloudboxReboot:
                guard let cloudBox else { return Self.unsupported(kind) }
                return try await executeCloudBox(kind, payload: payload, on: cloudBox)
            case .diskCreate, .diskResize, .diskDelete, .diskAttach:
                guard let rbd else { return Self.unsupported(kind) }
                return try await executeDisk(kind, payload: payload, rbd: rbd)
            case .diskDetach:
                guard let hypervisor else { return Self.unsupported(kind) }
                return try await detachDisk(payload: payload, on: hypervisor)
            }
        } catch {
            return .init(outcome: .failed, error: String(PayloadRedaction.scrub("\(error)", secretsOf: payload).prefix(2000)))
        }
    }

    // MARK: Images and VMs

    /// `image.fetch`: `{"sha256":…,"cached":true,"downloadedBytes":N}` once the verified file is in the cache.
    private func fetchImage(payload: JSONValue, compute: ComputeResources, progress: TaskProgress?) async throws -> TaskResultReport {
        let fetch = try payload.decode(as: ImageFetchPayload.self)
        if let invalid = Self.invalid(fetch.validate()) { return invalid }
        let fetched = try await compute.withImage(fetch.image, progress: progress) { $0 }
        return .init(outcome: .succeeded, observed: [
            "sha256": .string(fetched.sha256), "cached": true, "downloadedBytes": .number(Double(fetched.downloadedBytes)),
        ])
    }

    /// `vm.create`: the root image (fetched if not cached) and its overlay, the seed, the domain; each step
    /// idempotent, so a task repeated after a crash at any point ends with one overlay and one domain.
    private func createVm(payload: JSONValue, on hypervisor: any Hypervisor, progress: TaskProgress?) async throws -> TaskResultReport {
        let create = try payload.decode(as: VmCreatePayload.self)
        if let invalid = Self.invalid(create.validate()) { return invalid }
        let spec = create.spec
        if spec.rootImage != nil || spec.cloudInit != nil, compute == nil {
            return .init(outcome: .failed, error: "this agent has no image cache or seed builder for spec.rootImage / spec.cloudInit")
        }
        if spec.cloudInit != nil, DomainXML.seedTarget(for: spec) == nil {
            return .init(outcome: .failed, error: "invalid payload: spec.dataDisks leave no IDE target ("
                + DomainXML.seedTargets.joined(separator: ", ") + ") for the cloud-init seed cdrom")
        }
        if let missing = await missingBridge(for: spec) {
            return .init(outcome: .failed, error: "cannot define \(spec.name): \(missing)")
        }
        // The secrets of its RBD data disks first: a domain whose disk names a missing secret does not start.
        if !create.rbdClusters.isEmpty {
            guard let rbd else {
                return .init(outcome: .failed, error: "this agent has no RBD storage for rbdClusters")
            }
            for cluster in create.rbdClusters { try await rbd.ensureSecret(cluster) }
        }
        let define: @Sendable () async throws -> ObservedVm = {
            if let seed = spec.cloudInit, let compute = self.compute {
                _ = try await compute.seeds.build(seed, vm: spec.uuid)
                FaultInjection.point(.afterSeed)
            }
            let defined = try await hypervisor.define(spec)
            FaultInjection.point(.afterDefine)
            return create.start ? try await hypervisor.start(uuid: spec.uuid) : defined
        }
        let observed: ObservedVm
        if let root = spec.rootImage, let compute {
            // The spec names the logical pool (`VmSpec.diskPool`); on this host it is the agent's own.
            guard case .volume(_, let volume) = spec.rootDisk.source else {
                return .init(outcome: .failed, error: "invalid payload: spec.rootDisk.source must be a volume when rootImage is set")
            }
            observed = try await compute.withImage(root.image, progress: progress) { image in
                let pool = compute.layout.diskPoolName
                try await compute.storage.ensureDirectoryPool(name: pool, path: compute.layout.disksDirectory)
                _ = try await compute.storage.ensureOverlay(pool: pool, name: volume, backingPath: image.path,
                                                            backingFormat: root.image.format, capacityBytes: root.capacityBytes)
                FaultInjection.point(.afterOverlay)
                return try await define()
            }
        } else {
            observed = try await define()
        }
        return .init(outcome: .succeeded, observed: try JSONValue(encoding: observed))
    }

    /// Why one of the Open vSwitch bridges `spec`'s NICs attach to cannot be used (it does not exist, or OVS
    /// cannot be asked), with the command that makes it; nil when they all exist. Asked before anything is
    /// fetched or defined: libvirt would otherwise fail only at start, with "Unable to add port".
    func missingBridge(for spec: VmSpec) async -> String? {
        let bridges = Set(spec.nics.compactMap { $0.virtualPort == .openvswitch ? $0.attachment.name : nil })
        for bridge in bridges.sorted() {
            let answer = if let integrationBridge, integrationBridge.name == bridge {
                await integrationBridge.check()
            } else {
                await bridgeProbe.check(bridge)
            }
            if let problem = IntegrationBridge.problem(bridge: bridge, answer: answer) { return problem }
        }
        return nil
    }

    /// `vm.delete`: the domain, then its root overlay (`VmSpec.rootVolumeName`), seed and console log; the
    /// cached base image stays until evicted. Each step tolerates what is already gone.
    private func deleteVm(payload: JSONValue, on hypervisor: any Hypervisor) async throws -> TaskResultReport {
        let ref = try payload.decode(as: VmRefPayload.self)
        try await hypervisor.delete(uuid: ref.vmUuid)
        if let compute {
            if Validate.name(ref.vmName, field: "vmName") == nil {
                try await compute.storage.deleteVolume(pool: compute.layout.diskPoolName, name: VmSpec.rootVolumeName(vmName: ref.vmName))
            }
            compute.seeds.remove(vm: ref.vmUuid)
            compute.consoleLog.remove(vm: ref.vmUuid)
            await compute.images.evictIfNeeded()
        }
        return .init(outcome: .succeeded, observed: ["deleted": true])
    }

    // MARK: Disks

    /// `disk.create`, `disk.resize`, `disk.delete`, `disk.attach`; `observed` as the payloads' doc comments say.
    private func executeDisk(_ kind: TaskKind, payload: JSONValue, rbd: RbdStorage) async throws -> TaskResultReport {
        switch kind {
        case .diskCreate:
            let create = try payload.decode(as: DiskCreatePayload.self)
            if let invalid = Self.invalid(create.validate()) { return invalid }
            let volume = try await rbd.createVolume(create.cluster, image: create.image, capacityBytes: Self.bytes(gib: create.sizeGb))
            FaultInjection.point(.afterVolumeCreate)
            return .init(outcome: .succeeded, observed: [
                "image": .string(create.image), "capacityBytes": .number(Double(volume.capacityBytes)),
            ])
        case .diskResize:
            let resize = try payload.decode(as: DiskResizePayload.self)
            if let invalid = Self.invalid(resize.validate()) { return invalid }
            let bytes = Self.bytes(gib: resize.sizeGb)
            // Through every running domain here that has it: QEMU resizes the image and tells its guest (a resize
            // of the image alone is seen by neither).
            var resized: [String] = []
            if let hypervisor {
                for vm in resize.vmUuids
                where try await hypervisor.blockResize(uuid: vm, rbdPool: resize.cluster.rbdPool, image: resize.image, bytes: bytes) {
                    resized.append(vm.uuidString.lowercased())
                }
            }
            let capacity: Int64
            if resized.isEmpty {
                capacity = try await rbd.resizeVolume(resize.cluster, image: resize.image, capacityBytes: bytes).capacityBytes
            } else {
                guard let volume = try await rbd.volume(resize.cluster, image: resize.image) else {
                    throw RbdStorageError.noImage(rbdPool: resize.cluster.rbdPool, image: resize.image)
                }
                capacity = volume.capacityBytes
            }
            return .init(outcome: .succeeded, observed: [
                "image": .string(resize.image), "capacityBytes": .number(Double(capacity)),
                "resizedDomains": .array(resized.map(JSONValue.string)),
            ])
        case .diskDelete:
            let delete = try payload.decode(as: DiskDeletePayload.self)
            if let invalid = Self.invalid(delete.validate()) { return invalid }
            try await rbd.deleteVolume(delete.cluster, image: delete.image)
            return .init(outcome: .succeeded, observed: ["deleted": true])
        case .diskAttach:
            guard let hypervisor else { return Self.unsupported(kind) }
            let attach = try payload.decode(as: DiskAttachPayload.self)
            if let invalid = Self.invalid(attach.validate()) { return invalid }
            // The pool starts only with a working key (at most 30 s otherwise), and the image must exist: an
            // attach with a wrong key would hold the domain for 300 s and then fail in QEMU.
            guard try await rbd.volume(attach.cluster, image: attach.image) != nil else {
                throw RbdStorageError.noImage(rbdPool: attach.cluster.rbdPool, image: attach.image)
            }
            let attached = try await hypervisor.attachDisk(uuid: attach.vmUuid, source: attach.cluster.source(image: attach.image),
                                                          serial: attach.serial, readOnly: attach.readOnly, shareable: attach.shareable)
            FaultInjection.point(.afterAttach)
            return .init(outcome: .succeeded, observed: ["target": .string(attached.target), "live": .bool(attached.live)])
        default:
            return Self.unsupported(kind)
        }
    }

    /// `disk.detach`: `{"detached":true}` once the domain, live and defined, no longer has the image.
    private func detachDisk(payload: JSONValue, on hypervisor: any Hypervisor) async throws -> TaskResultReport {
        let detach = try payload.decode(as: DiskDetachPayload.self)
        if let invalid = Self.invalid(detach.validate()) { return invalid }
        try await hypervisor.detachDisk(uuid: detach.vmUuid, rbdPool: detach.cluster.rbdPool, image: detach.image)
        return .init(outcome: .succeeded, observed: ["detached": true])
    }

    /// `gib` GiB in bytes (2^30 each).
    static func bytes(gib: Int) -> Int64 { Int64(gib) << 30 }

    // MARK: Calls

    /// Answers an agent call (read-only; never journaled). Never throws: a failure is a FAILED answer.
    public func answer(_ call: AgentCall) async -> AgentCallAnswer {
        do {
            switch call.kind {
            case .consoleLog:
                guard let compute else {
                    return .init(outcome: .failed, error: "\(call.kind.rawValue) is not supported by this agent")
                }
                let request = try call.payload.decode(as: ConsoleLogCall.self)
                guard ConsoleLogCall.linesRange.contains(request.lines) else {
                    return .init(outcome: .failed, error: "invalid payload: lines must be from \(ConsoleLogCall.linesRange.lowerBound) to \(ConsoleLogCall.linesRange.upperBound)")
                }
                let log = compute.consoleLog
                let output = try await compute.io.run { try log.tail(vm: request.vmUuid, lines: request.lines) }
                return .init(outcome: .succeeded, answer: try JSONValue(encoding: output))
            case .consoleOpen:
                guard let consoles else {
                    return .init(outcome: .failed, error: "\(call.kind.rawValue) is not supported by this agent")
                }
                // Answered once the VM's console and the WebSocket to the coordinator are both open.
                try await consoles.open(try call.payload.decode(as: ConsoleOpenCall.self))
                return .init(outcome: .succeeded)
            case .graphicsPassword:
                guard let tickets else {
                    return .init(outcome: .failed, error: "\(call.kind.rawValue) is not supported by this agent")
                }
                let request = try call.payload.decode(as: GraphicsPasswordCall.self)
                if let password = request.password, let problem = GraphicsSpec(kind: .vnc, passwd: password).validate(field: "password").first {
                    return .init(outcome: .failed, error: "invalid payload: \(problem.field) \(problem.message)")
                }
                consoles?.end(request.endSessions)
                if let password = request.password {
                    try await tickets.set(vm: request.vmUuid, password: password, validUntil: request.validUntil, session: request.sessionId)
                } else {
                    try await tickets.rotate(vm: request.vmUuid, endingSessions: request.endSessions)
                }
                return .init(outcome: .succeeded)
            }
        } catch {
            return .init(outcome: .failed, error: String("\(error)".prefix(2000)))
        }
    }

    /// `vm.start`, `vm.stop`, `vm.restart`: the domain's `ObservedVm` after it. A domain the host does not have
    /// is `TaskResultReport.domainAbsent`: a stop has then reached what was asked; a start or restart fails
    /// saying so, and the coordinator rebuilds the domain.
    private func executeVm(_ kind: TaskKind, payload: JSONValue, on hypervisor: any Hypervisor) async throws -> TaskResultReport {
        let ref = try payload.decode(as: VmRefPayload.self)
        let observed: ObservedVm
        do {
            switch kind {
            case .vmStart:
                observed = try await hypervisor.start(uuid: ref.vmUuid)
            case .vmStop:
                let stop = try payload.decode(as: VmStopPayload.self)
                observed = try await hypervisor.stop(uuid: stop.vmUuid, timeout: .seconds(stop.timeoutS))
            case .vmRestart:
                observed = try await hypervisor.restart(uuid: ref.vmUuid)
            default:
                return Self.unsupported(kind)
            }
        } catch let error as HypervisorError where error == .notFound(uuid: ref.vmUuid.uuidString.lowercased()) {
            return .domainAbsent(kind, vmUuid: ref.vmUuid)
        } catch let error as LibvirtError where error.isNoDomain {
            return .domainAbsent(kind, vmUuid: ref.vmUuid)  // gone between the lookup and the call
        }
        return .init(outcome: .succeeded, observed: try JSONValue(encoding: observed))
    }

    /// Applies a `cloudbox.*` task; `observed` is the box's `CloudBoxState` after it (which never carries the
    /// console ticket), plus `"unbind": CloudBoxUnbindOutcome` for an unbind.
    private func executeCloudBox(_ kind: TaskKind, payload: JSONValue, on box: any CloudBoxControl) async throws -> TaskResultReport {
        var extra: [String: JSONValue] = [:]
        switch kind {
        case .cloudboxBind:
            let bind = try payload.decode(as: CloudBoxBindPayload.self)
            if let invalid = Self.invalid(bind.validate()) { return invalid }
            try await box.bind(bind)
        case .cloudboxUnbind:
            let unbind = try payload.decode(as: CloudBoxUnbindPayload.self)
            if let invalid = Self.invalid(unbind.validate()) { return invalid }
            extra["unbind"] = .string(try await box.unbind(unbind).rawValue)
        case .cloudboxConfigureNetwork:
            let network = try payload.decode(as: CloudBoxNetworkPayload.self)
            if let invalid = Self.invalid(network.validate()) { return invalid }
            try await box.configureNetwork(network)
        case .cloudboxReboot:
            let reboot = try payload.decode(as: CloudBoxRebootPayload.self)
            if let invalid = Self.invalid(reboot.validate()) { return invalid }
            try await box.reboot(reboot)
        default:
            return Self.unsupported(kind)
        }
        var observed = try JSONValue(encoding: try await box.current()).objectValue ?? [:]
        observed.merge(extra) { $1 }
        return .init(outcome: .succeeded, observed: .object(observed))
    }

    /// Whether this executor has what `kind` needs (otherwise `execute` answers that it is not supported).
    func supports(_ kind: TaskKind) -> Bool {
        switch kind {
        case .imageFetch: compute != nil
        case .vmCreate, .vmStart, .vmStop, .vmRestart, .vmDelete, .diskDetach: hypervisor != nil
        case .diskCreate, .diskResize, .diskDelete: rbd != nil
        case .diskAttach: rbd != nil && hypervisor != nil
        case .cloudboxBind, .cloudboxUnbind, .cloudboxConfigureNetwork, .cloudboxReboot: cloudBox != nil
        }
    }

    /// A FAILED result naming every invalid field, or nil when there is none.
    private static func invalid(_ problems: [FieldError]) -> TaskResultReport? {
        if problems.isEmpty { return nil }
        return .init(outcome: .failed, error: "invalid payload: " + problems.map { "\($0.field) \($0.message)" }.joined(separator: "; "))
    }

    private static func unsupported(_ kind: TaskKind) -> TaskResultReport {
        .init(outcome: .failed, error: "\(kind.rawValue) is not supported by this agent version")
    }
}
