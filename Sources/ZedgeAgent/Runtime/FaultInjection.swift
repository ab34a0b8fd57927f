#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZedgeCore

/// Test-only faults, armed by `ZEDGE_AGENT_FAULT` in the agent's environment; unset, they do nothing.
///
/// - `crash-after-execute`: a crash point. The agent kills itself (SIGKILL, as `kill -9` would) when it
///   reaches that point. The crash-safety tests use this to stop an agent at the worst moment (the hypervisor
///   has acted, the journal does not know yet).
/// - `crash-after-overlay`, `crash-after-seed`, `crash-after-define`: crash points inside a `vm.create` with a
///   root image, after its overlay volume, its seed ISO, and its domain definition exist (before the start).
/// - `crash-after-volume-create`: inside a `disk.create`, once the RBD image exists (before the result is
///   journaled). `crash-after-attach`: inside a `disk.attach`, once the domain has the disk.
/// - `fail-vm-create`: every `vm.create` fails. The hypervisor refuses to define the domain ("injected
///   fault: …") and defines nothing, so the task ends FAILED with that reason through the executor's normal
///   error path. End-to-end tests use this because libvirt's test driver accepts every domain Zedge defines,
///   so a real agent cannot otherwise be made to fail a create.
public enum FaultInjection {
    public static let variable = "ZEDGE_AGENT_FAULT"

    public enum Point: String, Sendable {
        case afterExecute = "crash-after-execute"
        case afterOverlay = "crash-after-overlay"
        case afterSeed = "crash-after-seed"
        case afterDefine = "crash-after-define"
        case afterVolumeCreate = "crash-after-volume-create"
        case afterAttach = "crash-after-attach"
    }

    /// Faults that make an operation fail instead of crashing the agent.
    public enum Failure: String, Sendable {
        case vmCreate = "fail-vm-create"
    }

    static let setting = ProcessInfo.processInfo.environment[variable]
    static let armed = setting.flatMap(Point.init(rawValue:))
    public static let armedFailure = setting.flatMap(Failure.init(rawValue:))

    public static func point(_ point: Point) {
        guard armed == point else { return }
        kill(getpid(), SIGKILL)
    }

    /// `hypervisor` as is, or (with `fail-vm-create` armed) wrapped so that every define fails.
    public static func hypervisor(_ hypervisor: any Hypervisor, failure: Failure? = armedFailure) -> any Hypervisor {
        failure == .vmCreate ? CreateRefusingHypervisor(base: hypervisor) : hypervisor
    }
}

/// The error an injected fault throws.
public struct InjectedFault: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// A hypervisor that refuses every `define` (`ZEDGE_AGENT_FAULT=fail-vm-create`) and passes everything else on.
struct CreateRefusingHypervisor: Hypervisor {
    let base: any Hypervisor

    func define(_ spec: VmSpec) async throws -> ObservedVm {
        throw InjectedFault(description: "injected fault (\(FaultInjection.variable)=\(FaultInjection.Failure.vmCreate.rawValue)): "
            + "refused to define domain \(spec.name)")
    }
    func start(uuid: UUID) async throws -> ObservedVm { try await base.start(uuid: uuid) }
    func stop(uuid: UUID, timeout: Duration) async throws -> ObservedVm { try await base.stop(uuid: uuid, timeout: timeout) }
    func restart(uuid: UUID) async throws -> ObservedVm { try await base.restart(uuid: uuid) }
    func delete(uuid: UUID) async throws { try await base.delete(uuid: uuid) }
    func state(uuid: UUID) async throws -> ObservedVm? { try await base.state(uuid: uuid) }
    func list() async throws -> [ObservedVm] { try await base.list() }
    func attachDisk(uuid: UUID, source: DiskSource, serial: String?, readOnly: Bool, shareable: Bool) async throws -> AttachedDisk {
        try await base.attachDisk(uuid: uuid, source: source, serial: serial, readOnly: readOnly, shareable: shareable)
    }
    func detachDisk(uuid: UUID, rbdPool: String, image: String) async throws {
        try await base.detachDisk(uuid: uuid, rbdPool: rbdPool, image: image)
    }
    func blockResize(uuid: UUID, rbdPool: String, image: String, bytes: Int64) async throws -> Bool {
        try await base.blockResize(uuid: uuid, rbdPool: rbdPool, image: image, bytes: bytes)
    }
    func setGraphicsPassword(uuid: UUID, password: String, validUntil: Date?) async throws {
        try await base.setGraphicsPassword(uuid: uuid, password: password, validUntil: validUntil)
    }
}

/// Test-only reboots: with `ZEDGE_AGENT_REBOOTER=record` in its environment a CloudBox agent never reboots its
/// host; a `cloudbox.reboot` appends a line to `recorded-reboots.jsonl` in the CloudBox directory instead
/// (`RecordingRebooter`), so end-to-end tests can run a CloudBox agent on a development or CI machine. Unset (or
/// `system`) it reboots with `SystemRebooter`; any other value is refused, so that a typo never reboots a test
/// machine.
public enum RebooterHook {
    public static let variable = "ZEDGE_AGENT_REBOOTER"
    public static let markerFile = "recorded-reboots.jsonl"

    public static func rebooter(cloudBoxDirectory: URL,
                                environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Rebooter {
        switch environment[variable] {
        case nil, "system": SystemRebooter()
        case "record": RecordingRebooter(markerPath: cloudBoxDirectory.appendingPathComponent(markerFile).path)
        case let other?: throw AgentError("\(variable)=\(other) is not known; use record (tests) or system")
        }
    }
}
