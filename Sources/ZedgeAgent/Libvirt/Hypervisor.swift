import CLibvirt
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

/// The agent's view of a hypervisor: VM lifecycle operations, each idempotent (a task may be delivered more
/// than once) and each reporting the domain's state as observed after it.
public protocol Hypervisor: Sendable {
    /// Defines the domain for `spec` (not started). If a domain with `spec.uuid` exists already, returns it
    /// and defines nothing. Throws `ValidationFailure` for an invalid spec.
    func define(_ spec: VmSpec) async throws -> ObservedVm
    /// Starts the domain (resumes it if paused); already running is success.
    func start(uuid: UUID) async throws -> ObservedVm
    /// Asks the guest to power off (ACPI), waits up to `timeout` for it to be off, then forces it off.
    /// Already off is success.
    func stop(uuid: UUID, timeout: Duration) async throws -> ObservedVm
    /// Reboots a running domain; starts one that is off.
    func restart(uuid: UUID) async throws -> ObservedVm
    /// Forces the domain off if it runs and removes its definition (with managed-save image, snapshot and
    /// checkpoint metadata and NVRAM where the driver supports that). Absent is success.
    func delete(uuid: UUID) async throws
    /// The domain's current state, or nil if no domain has that UUID.
    func state(uuid: UUID) async throws -> ObservedVm?
    /// Every domain the hypervisor knows, the agent's and others.
    func list() async throws -> [ObservedVm]

    /// Adds the RBD image `source` to the domain as a virtio disk on the first free `vd…` target: to its
    /// persistent definition, and live when it runs. Idempotent: a domain that has the image (live or in its
    /// definition) keeps it, and only the side that lacks it is fixed up.
    /// - Throws: `HypervisorError.notFound` for no such domain; `HypervisorError.diskAttachedElsewhere` when
    ///   another domain here has the image and the two attachments are not both shareable; `ValidationFailure`
    ///   for a source that is not RBD.
    func attachDisk(uuid: UUID, source: DiskSource, serial: String?, readOnly: Bool, shareable: Bool) async throws -> AttachedDisk
    /// Removes the RBD image `rbdPool/image` from the domain, live and from its definition, and returns once the
    /// running domain no longer lists it (a guest must answer the unplug). No such domain, or a domain without
    /// the image, is success.
    /// - Throws: `HypervisorError.detachTimedOut` when the disk is still there after the hypervisor's timeout.
    func detachDisk(uuid: UUID, rbdPool: String, image: String) async throws
    /// Grows the RBD image `rbdPool/image`, attached to the running domain, to `bytes` bytes through the domain
    /// (QEMU resizes the image and tells the guest; never shrinks). Returns false, changing nothing, when the
    /// domain is absent, not running, without that disk or has it read-only (QEMU resizes no read-only device):
    /// resize the image through the storage API then.
    func blockResize(uuid: UUID, rbdPool: String, image: String, bytes: Int64) async throws -> Bool
    /// Sets the running domain's graphics password (VNC's or SPICE's) to `password`, valid until `validUntil`
    /// (nil: no expiry), keeping sessions in progress. libvirt: virDomainUpdateDeviceFlags on the live graphics
    /// device with `passwd`, `passwdValidTo` and `connected='keep'`.
    /// - Throws: `HypervisorError.notFound` for no such domain; `LibvirtError` when it is not running or has no graphics.
    func setGraphicsPassword(uuid: UUID, password: String, validUntil: Date?) async throws
}

/// Where a disk was attached.
public struct AttachedDisk: Sendable, Hashable, Codable {
    /// The domain's target device, e.g. "vdb" (the guest may name it otherwise; it finds it by serial).
    public var target: String
    /// The running domain has it now (false: it is in the definition, attached at the next start).
    public var live: Bool

    public init(target: String, live: Bool) {
        self.target = target
        self.live = live
    }
}

/// Why a hypervisor operation was refused.
public enum HypervisorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No domain has this UUID.
    case notFound(uuid: String)
    /// The domain was not defined by a Zedge agent (it has no Zedge metadata), so the agent leaves it alone.
    case notManaged(uuid: String, name: String)
    /// Every `vd…` target of the domain is taken.
    case noFreeTarget(uuid: String)
    /// Other domains on this host have the image, and it is not shareable on both sides.
    case diskAttachedElsewhere(disk: String, domains: [String])
    /// The running domain still lists the disk `seconds` after the detach request (its guest did not release
    /// it); its persistent definition no longer has it.
    case detachTimedOut(uuid: String, name: String, disk: String, target: String, seconds: Int)

    public var description: String {
        switch self {
        case .notFound(let uuid): "no domain with UUID \(uuid)"
        case .notManaged(let uuid, let name):
            "domain \(name) (\(uuid)) was not defined by Zedge; refusing to change it"
        case .noFreeTarget(let uuid): "domain \(uuid) has no free vd… target left"
        case .diskAttachedElsewhere(let disk, let domains):
            "disk \(disk) is attached to \(domains.joined(separator: ", ")) on this host; only a shareable disk may be "
                + "attached to more than one domain"
        case .detachTimedOut(let uuid, let name, let disk, let target, let seconds):
            "disk \(disk) is still attached to running domain \(name) (\(uuid)) as \(target) \(seconds) s after the detach "
                + "request: the guest has not released it (no ACPI hotplug, or the device is busy); it is gone from the "
                + "domain's definition, so it goes at the next stop"
        }
    }
}

/// `Hypervisor` over libvirt. Every libvirt call runs on its `LibvirtConnection`'s serial queue; waiting
/// (the stop timeout) happens between calls, so other operations on the connection are not held up.
public final class LibvirtHypervisor: Hypervisor {
    public let connection: LibvirtConnection
    /// libvirt's `<domain type=…>` for the domains this hypervisor defines.
    public let domainType: String
    public let cpuMode: CPUMode
    /// How often `stop` looks at the domain while waiting for it to power off.
    public let pollInterval: Duration
    /// How often `stop` repeats the ACPI power-button press while waiting (a guest still booting may miss
    /// the first one).
    public let shutdownRepeatInterval: Duration
    /// How long `detachDisk` waits for a running domain to let the disk go (a detach request can succeed while
    /// the disk stays).
    public let detachTimeout: Duration

    /// Where the domains' console logs and cloud-init seeds live; nil renders neither (tests of the bare
    /// lifecycle).
    public let layout: AgentLayout?

    /// - Parameters:
    ///   - uri: the libvirt URI: `test:///default` in dev and tests, `qemu:///system` in production.
    ///   - domainType: libvirt's `<domain type=…>`, as `DomainTypeSelection` decided it; nil gives "test" for
    ///     `test:` URIs and "qemu" (TCG, which runs everywhere) otherwise.
    ///   - layout: the agent's state-dir layout: every domain's serial console is logged to
    ///     `layout.consoleLogPath`, and a spec with `cloudInit` gets the seed at `layout.seedPath` as a cdrom.
    public convenience init(uri: String, domainType: String? = nil, cpuMode: CPUMode = .hostPassthrough, layout: AgentLayout? = nil) {
        self.init(connection: LibvirtConnection(uri: uri), domainType: domainType, cpuMode: cpuMode, layout: layout)
    }

    public init(
        connection: LibvirtConnection, domainType: String? = nil, cpuMode: CPUMode = .hostPassthrough,
        layout: AgentLayout? = nil,
        pollInterval: Duration = .milliseconds(250),
        shutdownRepeatInterval: Duration = .seconds(10),
        detachTimeout: Duration = .seconds(30)
    ) {
        self.connection = connection
        self.domainType = domainType ?? Self.defaultDomainType(uri: connection.uri)
        self.cpuMode = cpuMode
        self.layout = layout
        self.pollInterval = pollInterval
        self.shutdownRepeatInterval = shutdownRepeatInterval
        self.detachTimeout = detachTimeout
    }

    /// "test" for the test driver, else "qemu". The agent decides kvm with `DomainTypeSelection` (a /dev/kvm
    /// that exists proves nothing: on a paravirtual `kvm_pvm` host no guest runs under it).
    public static func defaultDomainType(uri: String) -> String {
        uri.hasPrefix("test:") ? "test" : "qemu"
    }

    /// The host files `spec`'s domain refers to (console log; seed when it has `cloudInit`).
    public func hostFiles(for spec: VmSpec) -> DomainXML.HostFiles {
        guard let layout else { return .init() }
        return .init(consoleLogPath: layout.consoleLogPath(spec.uuid),
                     seedISOPath: spec.cloudInit == nil ? nil : layout.seedPath(spec.uuid))
    }

    // MARK: Hypervisor

    /// The spec as this host has it: a root disk in the logical `VmSpec.diskPool` is in the agent's own directory pool
    /// (`AgentLayout.diskPoolName`).
    func local(_ spec: VmSpec) -> VmSpec {
        guard let layout, case .volume(VmSpec.diskPool, let volume) = spec.rootDisk.source else { return spec }
        var local = spec
        local.rootDisk.source = .volume(pool: layout.diskPoolName, name: volume)
        return local
    }

    public func define(_ spec: VmSpec) async throws -> ObservedVm {
        let errors = spec.validate()
        if !errors.isEmpty { throw ValidationFailure(errors: errors) }
        var local = local(spec)
        // Nothing is open by default (issue #16): graphics without a password get one nobody knows.
        if local.graphics != nil, local.graphics?.passwd == nil { local.graphics?.passwd = GraphicsPassword.random() }
        let xml = DomainXML.render(local, domainType: domainType, cpuMode: cpuMode, files: hostFiles(for: spec))
        let uuid = spec.uuid
        return try await connection.perform { conn in
            // Look up and define in one queued block: no other call on this connection can slip in between.
            if let dom = try Self.lookup(conn, uuid) {
                defer { virDomainFree(dom) }
                try Self.requireManaged(dom)
                return try Self.observe(dom)
            }
            let dom = try Self.defineXML(conn, xml)
            defer { virDomainFree(dom) }
            return try Self.observe(dom)
        }
    }

    public func start(uuid: UUID) async throws -> ObservedVm {
        try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            let current = try Self.observe(dom)
            switch current.state {
            case .paused:
                if virDomainResume(dom) != 0 { throw LibvirtError.last("resuming the domain failed") }
            case .shutOff, .crashed, .noState:
                if virDomainIsActive(dom) == 1 { break }
                if virDomainCreate(dom) != 0 {
                    let error = LibvirtError.last("starting the domain failed")
                    // Another caller may have started it in between (through another connection).
                    if !(error.isOperationInvalid && virDomainIsActive(dom) == 1) { throw error }
                }
            case .running, .blocked, .shuttingDown, .suspended:
                break
            }
            return try Self.observe(dom)
        }
    }

    public func stop(uuid: UUID, timeout: Duration) async throws -> ObservedVm {
        // 1. Press the power button (unless already off).
        let first: (vm: ObservedVm, shutdownRequested: Bool) = try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            if virDomainIsActive(dom) != 1 { return (try Self.observe(dom), false) }
            let requested = virDomainShutdown(dom) == 0
            if !requested { virResetLastError() }  // e.g. no ACPI in the guest: go straight to forcing it off
            return (try Self.observe(dom), requested)
        }
        if first.vm.state == .shutOff { return first.vm }

        // 2. Wait for the guest to power off, pressing the button again now and then.
        if first.shutdownRequested {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: timeout)
            var nextPress = clock.now.advanced(by: shutdownRepeatInterval)
            while clock.now < deadline {
                try await Task.sleep(for: min(pollInterval, clock.now.duration(to: deadline)))
                let pressAgain = clock.now >= nextPress
                if pressAgain { nextPress = clock.now.advanced(by: shutdownRepeatInterval) }
                let vm: ObservedVm = try await connection.perform { conn in
                    let dom = try Self.require(conn, uuid)
                    defer { virDomainFree(dom) }
                    if pressAgain, virDomainIsActive(dom) == 1, virDomainShutdown(dom) != 0 { virResetLastError() }
                    return try Self.observe(dom)
                }
                if vm.state == .shutOff { return vm }
            }
        }

        // 3. Force it off.
        return try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            try Self.destroyIfActive(dom)
            return try Self.observe(dom)
        }
    }

    public func restart(uuid: UUID) async throws -> ObservedVm {
        try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            if virDomainIsActive(dom) == 1 {
                if virDomainReboot(dom, 0) != 0 { throw LibvirtError.last("rebooting the domain failed") }
            } else if virDomainCreate(dom) != 0 {
                throw LibvirtError.last("starting the domain failed")
            }
            return try Self.observe(dom)
        }
    }

    public func delete(uuid: UUID) async throws {
        try await connection.perform { conn in
            guard let dom = try Self.lookup(conn, uuid) else { return }
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            try Self.destroyIfActive(dom)
            // A transient domain is gone once destroyed.
            guard virDomainIsPersistent(dom) == 1 else { return }
            try Self.undefine(dom)
        }
    }

    public func state(uuid: UUID) async throws -> ObservedVm? {
        try await connection.perform { conn in
            guard let dom = try Self.lookup(conn, uuid) else { return nil }
            defer { virDomainFree(dom) }
            do {
                return try Self.observe(dom)
            } catch let e as LibvirtError where e.isNoDomain {
                return nil  // undefined in between (through another connection)
            }
        }
    }

    public func list() async throws -> [ObservedVm] {
        try await list(managedOnly: false)
    }

    /// Every domain, or with `managedOnly` only those a Zedge agent defined (they carry Zedge metadata).
    public func list(managedOnly: Bool) async throws -> [ObservedVm] {
        try await connection.perform { conn in
            var domains: UnsafeMutablePointer<virDomainPtr?>? = nil
            let count = virConnectListAllDomains(conn, &domains, 0)
            guard count >= 0 else { throw LibvirtError.last("listing domains failed") }
            defer {
                for i in 0..<Int(count) { if let d = domains?[i] { virDomainFree(d) } }
                free(domains)
            }
            var result: [ObservedVm] = []
            for i in 0..<Int(count) {
                guard let dom = domains?[i] else { continue }
                do {
                    if managedOnly, try !Self.isManaged(dom) { continue }
                    result.append(try Self.observe(dom))
                } catch let e as LibvirtError where e.isNoDomain {
                    continue  // undefined since the listing (through another connection)
                }
            }
            return result
        }
    }

    /// The root-image SHA-256s recorded in the Zedge metadata of every domain libvirt knows (running or not).
    public func rootImagesInUse() async throws -> Set<String> {
        try await connection.perform { conn in
            var domains: UnsafeMutablePointer<virDomainPtr?>? = nil
            let count = virConnectListAllDomains(conn, &domains, 0)
            guard count >= 0 else { throw LibvirtError.last("listing domains failed") }
            defer {
                for i in 0..<Int(count) { if let d = domains?[i] { virDomainFree(d) } }
                free(domains)
            }
            var found: Set<String> = []
            let type = Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue)
            for i in 0..<Int(count) {
                guard let dom = domains?[i] else { continue }
                guard let text = virDomainGetMetadata(dom, type, DomainXML.metadataNamespace, 0) else {
                    let error = LibvirtError.last("reading a domain's metadata failed")
                    if error.code == Int32(VIR_ERR_NO_DOMAIN_METADATA.rawValue) || error.isNoDomain { continue }
                    throw error
                }
                defer { free(text) }
                if let sha = DomainXML.rootImageSHA256(inMetadata: String(cString: text)) { found.insert(sha) }
            }
            return found
        }
    }

    /// True if a Zedge agent defined the domain (it carries Zedge metadata).
    public func isManaged(uuid: UUID) async throws -> Bool {
        try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            return try Self.isManaged(dom)
        }
    }

    // MARK: libvirt helpers (on the connection's queue)

    static func lookup(_ conn: OpaquePointer, _ uuid: UUID) throws -> OpaquePointer? {
        if let dom = virDomainLookupByUUIDString(conn, uuid.uuidString.lowercased()) { return dom }
        let error = LibvirtError.last("looking up domain \(uuid) failed")
        if error.isNoDomain { return nil }
        throw error
    }

    static func require(_ conn: OpaquePointer, _ uuid: UUID) throws -> OpaquePointer {
        guard let dom = try lookup(conn, uuid) else { throw HypervisorError.notFound(uuid: uuid.uuidString.lowercased()) }
        return dom
    }

    /// Defines with schema validation where the driver supports it.
    private static func defineXML(_ conn: OpaquePointer, _ xml: String) throws -> OpaquePointer {
        if let dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE.rawValue) { return dom }
        let error = LibvirtError.last("defining the domain failed")
        guard error.isUnsupported else { throw error }
        guard let dom = virDomainDefineXML(conn, xml) else { throw LibvirtError.last("defining the domain failed") }
        return dom
    }

    private static func isManaged(_ dom: OpaquePointer) throws -> Bool {
        let type = Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue)
        if let text = virDomainGetMetadata(dom, type, DomainXML.metadataNamespace, 0) {
            free(text)
            return true
        }
        let error = LibvirtError.last("reading the domain's metadata failed")
        if error.code == Int32(VIR_ERR_NO_DOMAIN_METADATA.rawValue) { return false }
        throw error
    }

    static func requireManaged(_ dom: OpaquePointer) throws {
        guard try isManaged(dom) else {
            let vm = try observe(dom)
            throw HypervisorError.notManaged(uuid: vm.vmUuid, name: vm.vmName)
        }
    }

    private static func destroyIfActive(_ dom: OpaquePointer) throws {
        guard virDomainIsActive(dom) == 1 else { return }
        if virDomainDestroy(dom) != 0 {
            let error = LibvirtError.last("forcing the domain off failed")
            // It may have powered off by itself in between.
            if !(error.isOperationInvalid && virDomainIsActive(dom) == 0) { throw error }
        }
    }

    /// Undefines with the cleanup flags, dropping those the driver does not support.
    private static func undefine(_ dom: OpaquePointer) throws {
        let managedSave = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue
        let snapshots = VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.rawValue
        let nvram = VIR_DOMAIN_UNDEFINE_NVRAM.rawValue
        let checkpoints = VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA.rawValue
        let attempts: [UInt32] = [
            managedSave | snapshots | checkpoints | nvram,
            managedSave | snapshots | nvram,
            managedSave | snapshots,
            0,
        ]
        var lastError: LibvirtError? = nil
        for flags in attempts {
            if virDomainUndefineFlags(dom, flags) == 0 { return }
            let error = LibvirtError.last("undefining the domain failed")
            if error.isNoDomain { return }
            guard error.isUnsupported else { throw error }
            lastError = error
        }
        if let lastError { throw lastError }
    }

    static func observe(_ dom: OpaquePointer) throws -> ObservedVm {
        var buf = [CChar](repeating: 0, count: 64)
        guard virDomainGetUUIDString(dom, &buf) == 0 else { throw LibvirtError.last("reading the domain's UUID failed") }
        let uuid = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let namePtr = virDomainGetName(dom) else { throw LibvirtError.last("reading the domain's name failed") }
        let name = String(cString: namePtr)
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(dom, &state, &reason, 0) == 0 else {
            throw LibvirtError.last("reading the domain's state failed")
        }
        return ObservedVm(vmUuid: uuid, vmName: name, state: domainState(state), disks: observedDisks(dom))
    }

    /// The domain's RBD disks: from the live definition when it runs, the persistent one otherwise (flags 0
    /// gives whichever is current); nil when the XML cannot be read.
    static func observedDisks(_ dom: OpaquePointer) -> [ObservedDisk]? {
        guard let disks = try? disks(dom, live: true) else { return nil }
        return disks.compactMap(\.observed)
    }

    /// The domain's disks as its current (`live`; the persistent one when it is off) or persistent definition
    /// lists them (`virDomainGetXMLDesc`, with `VIR_DOMAIN_XML_INACTIVE` for the persistent one).
    static func disks(_ dom: OpaquePointer, live: Bool) throws -> [DomainDisk] {
        guard let text = virDomainGetXMLDesc(dom, live ? 0 : VIR_DOMAIN_XML_INACTIVE.rawValue) else {
            throw LibvirtError.last("reading the domain's XML failed")
        }
        defer { free(text) }
        return try DomainDisk.parse(domainXML: String(cString: text))
    }

    /// Maps libvirt's `virDomainState` to `DomainState`.
    public static func domainState(_ raw: Int32) -> DomainState {
        switch UInt32(bitPattern: raw) {
        case VIR_DOMAIN_RUNNING.rawValue: .running
        case VIR_DOMAIN_BLOCKED.rawValue: .blocked
        case VIR_DOMAIN_PAUSED.rawValue: .paused
        case VIR_DOMAIN_SHUTDOWN.rawValue: .shuttingDown
        case VIR_DOMAIN_SHUTOFF.rawValue: .shutOff
        case VIR_DOMAIN_CRASHED.rawValue: .crashed
        case VIR_DOMAIN_PMSUSPENDED.rawValue: .suspended
        default: .noState
        }
    }
}
