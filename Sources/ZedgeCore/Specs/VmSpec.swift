#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The typed description of one virtual machine that a `vm.create` task carries (DESIGN §4). The agent renders
// it to libvirt domain XML; the coordinator builds it from the instance's resolved template config.
//
// JSON: camelCase field names; the enums (`DiskSource`, `NicAttachment`) are objects with a "type"
// discriminator, e.g. `{"type":"rbd","pool":"vms","image":"vm-1-root","monitors":["10.0.0.1:6789"]}`.
// Fields with a documented default may be left out when decoding.

/// A virtual machine as the agent defines it in libvirt.
public struct VmSpec: Codable, Sendable, Hashable {
    /// The libvirt domain name (Zedge name rules: 1...63 of letters, digits, '.', '_', '-').
    public var name: String
    /// The domain UUID; the agent's key for the domain (a task delivered twice finds it by this).
    public var uuid: UUID
    public var vcpus: Int
    public var memoryMiB: Int
    public var rootDisk: DiskSpec
    public var dataDisks: [DiskSpec]
    public var nics: [NicSpec]
    /// A console (VNC or SPICE); nil for none (the serial console is always there).
    public var graphics: GraphicsSpec?
    /// Host PCI devices passed through (VFIO).
    public var gpus: [GpuSpec]
    /// When set, the root disk is a qcow2 overlay on this cached image, which the agent fetches first if it
    /// does not hold it; `rootDisk.source` must then be a `.volume` in `VmSpec.diskPool` and qcow2.
    public var rootImage: RootImageSpec?
    /// The cloud-init NoCloud seed the VM gets as a cdrom; nil for none.
    public var cloudInit: CloudInitSeed?

    public static let vcpuRange = 1...512
    /// The libvirt storage pool (a directory pool the agent defines) that holds root-disk overlays.
    public static let diskPool = "zedge-disks"
    /// The name of a VM's root-disk overlay volume in `diskPool`.
    public static func rootVolumeName(vmName: String) -> String { "\(vmName)-root.qcow2" }
    public static let memoryMiBRange = 64...4_194_304

    public init(
        name: String, uuid: UUID, vcpus: Int, memoryMiB: Int, rootDisk: DiskSpec, dataDisks: [DiskSpec] = [],
        nics: [NicSpec] = [], graphics: GraphicsSpec? = nil, gpus: [GpuSpec] = [], rootImage: RootImageSpec? = nil,
        cloudInit: CloudInitSeed? = nil
    ) {
        self.name = name
        self.uuid = uuid
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.rootDisk = rootDisk
        self.dataDisks = dataDisks
        self.nics = nics
        self.graphics = graphics
        self.gpus = gpus
        self.rootImage = rootImage
        self.cloudInit = cloudInit
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        uuid = try c.decode(UUID.self, forKey: .uuid)
        vcpus = try c.decode(Int.self, forKey: .vcpus)
        memoryMiB = try c.decode(Int.self, forKey: .memoryMiB)
        rootDisk = try c.decode(DiskSpec.self, forKey: .rootDisk)
        dataDisks = try c.decodeIfPresent([DiskSpec].self, forKey: .dataDisks) ?? []
        nics = try c.decodeIfPresent([NicSpec].self, forKey: .nics) ?? []
        graphics = try c.decodeIfPresent(GraphicsSpec.self, forKey: .graphics)
        gpus = try c.decodeIfPresent([GpuSpec].self, forKey: .gpus) ?? []
        rootImage = try c.decodeIfPresent(RootImageSpec.self, forKey: .rootImage)
        cloudInit = try c.decodeIfPresent(CloudInitSeed.self, forKey: .cloudInit)
    }

    /// Every disk, the root disk first.
    public var allDisks: [DiskSpec] { [rootDisk] + dataDisks }

    /// Every problem with the spec, with field paths relative to the spec ("nics[1].mac"); empty when valid.
    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if let e = Validate.name(name, field: "name") { errors.append(e) }
        if let e = Validate.size(vcpus, field: "vcpus", in: Self.vcpuRange) { errors.append(e) }
        if let e = Validate.size(memoryMiB, field: "memoryMiB", in: Self.memoryMiBRange) { errors.append(e) }

        errors += rootDisk.validate(field: "rootDisk")
        if let rootImage {
            errors += rootImage.validate(field: "rootImage")
            if case .volume(let pool, _) = rootDisk.source, pool == Self.diskPool, rootDisk.format == .qcow2 {
            } else {
                errors.append(FieldError(field: "rootDisk.source",
                                         message: "must be a qcow2 volume in pool \(Self.diskPool) when rootImage is set"))
            }
        }
        if let cloudInit { errors += cloudInit.validate(field: "cloudInit") }
        for (i, disk) in dataDisks.enumerated() { errors += disk.validate(field: "dataDisks[\(i)]") }
        var targets: Set<String> = [rootDisk.target]
        for (i, disk) in dataDisks.enumerated() where !targets.insert(disk.target).inserted {
            errors.append(FieldError(field: "dataDisks[\(i)].target",
                                     message: "must be unique among the VM's disks ('\(disk.target)' is used twice)"))
        }

        var macs: Set<String> = []
        for (i, nic) in nics.enumerated() {
            errors += nic.validate(field: "nics[\(i)]")
            if let mac = MACAddress(nic.mac), !macs.insert(mac.description).inserted {
                errors.append(FieldError(field: "nics[\(i)].mac", message: "must be unique among the VM's NICs"))
            }
        }

        if let graphics { errors += graphics.validate(field: "graphics") }

        var pci: Set<String> = []
        for (i, gpu) in gpus.enumerated() {
            if let e = gpu.validate(field: "gpus[\(i)]") {
                errors.append(e)
            } else if !pci.insert(gpu.pciAddress.lowercased()).inserted {
                errors.append(FieldError(field: "gpus[\(i)].pciAddress", message: "must be unique among the VM's GPUs"))
            }
        }
        return errors
    }
}

// MARK: - Disks

/// Where a disk's bytes live.
public enum DiskSource: Codable, Sendable, Hashable {
    /// A file on the host (an image copy or a local qcow2), by absolute path.
    case file(path: String)
    /// A volume of a libvirt storage pool.
    case volume(pool: String, name: String)
    /// A Ceph RBD image, reached through the given monitors ("host", "host:port" or "[v6]:port"). With
    /// `authUser`, `secretUuid` names the libvirt secret (type ceph) that holds that user's key.
    case rbd(pool: String, image: String, monitors: [String], authUser: String?, secretUuid: String?)

    /// The discriminator values, as they appear in JSON "type".
    public static let types = ["file", "volume", "rbd"]

    /// Splits a Ceph monitor ("host", "host:port", "v6addr" or "[v6addr]:port") into host and port;
    /// nil if it is not in one of those forms.
    public static func monitorHostPort(_ monitor: String) -> (host: String, port: Int?)? {
        SpecRules.splitHostPort(monitor)
    }

    public var type: String {
        switch self {
        case .file: "file"
        case .volume: "volume"
        case .rbd: "rbd"
        }
    }

    private enum CodingKeys: String, CodingKey {
        case type, path, pool, name, image, monitors, authUser, secretUuid
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "file":
            self = .file(path: try c.decode(String.self, forKey: .path))
        case "volume":
            self = .volume(pool: try c.decode(String.self, forKey: .pool), name: try c.decode(String.self, forKey: .name))
        case "rbd":
            self = .rbd(
                pool: try c.decode(String.self, forKey: .pool),
                image: try c.decode(String.self, forKey: .image),
                monitors: try c.decodeIfPresent([String].self, forKey: .monitors) ?? [],
                authUser: try c.decodeIfPresent(String.self, forKey: .authUser),
                secretUuid: try c.decodeIfPresent(String.self, forKey: .secretUuid))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "must be one of " + Self.types.joined(separator: ", "))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .file(let path):
            try c.encode(path, forKey: .path)
        case .volume(let pool, let name):
            try c.encode(pool, forKey: .pool)
            try c.encode(name, forKey: .name)
        case .rbd(let pool, let image, let monitors, let authUser, let secretUuid):
            try c.encode(pool, forKey: .pool)
            try c.encode(image, forKey: .image)
            try c.encode(monitors, forKey: .monitors)
            try c.encodeIfPresent(authUser, forKey: .authUser)
            try c.encodeIfPresent(secretUuid, forKey: .secretUuid)
        }
    }
}

/// The bus a disk is attached to (libvirt `<target bus=…>`).
public enum DiskBus: String, Codable, Sendable, Hashable, CaseIterable {
    case virtio, scsi, sata, ide
}

/// The image format qemu reads (libvirt `<driver type=…>`); also an image version's `diskFormat` column.
public enum DiskFormat: String, ZedgeEnum {
    case qcow2, raw
}

/// One disk of a VM.
public struct DiskSpec: Codable, Sendable, Hashable {
    public var source: DiskSource
    /// The guest device name: "vda", "vdb", … ("sd…" for scsi/sata, "hd…" for ide).
    public var target: String
    /// Default virtio.
    public var bus: DiskBus
    public var readOnly: Bool
    /// Several VMs may attach it at once (the guest must coordinate, e.g. a cluster file system).
    public var shareable: Bool
    /// Default raw for RBD, qcow2 otherwise.
    public var format: DiskFormat
    /// `<serial>`: what the guest sees as the disk's serial (and `/dev/disk/by-id/virtio-SERIAL`); at most
    /// 20 characters, which is all virtio-blk passes on.
    public var serial: String?

    public init(
        source: DiskSource, target: String, bus: DiskBus = .virtio, readOnly: Bool = false, shareable: Bool = false,
        format: DiskFormat? = nil, serial: String? = nil
    ) {
        self.source = source
        self.target = target
        self.bus = bus
        self.readOnly = readOnly
        self.shareable = shareable
        self.format = format ?? Self.defaultFormat(for: source)
        self.serial = serial
    }

    /// Why `serial` cannot be a disk serial (1...20 of letters, digits, '-', '_'), or nil.
    public static func serialProblem(_ serial: String, field: String) -> FieldError? {
        let b = Array(serial.utf8)
        guard (1...20).contains(b.count),
              b.allSatisfy({ SpecRules.isAlnumASCII($0) || $0 == 0x2D || $0 == 0x5F }) else {
            return FieldError(field: field, message: "must be 1-20 letters, digits, '-' or '_'")
        }
        return nil
    }

    public static func defaultFormat(for source: DiskSource) -> DiskFormat {
        if case .rbd = source { .raw } else { .qcow2 }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(DiskSource.self, forKey: .source)
        target = try c.decode(String.self, forKey: .target)
        bus = try c.decodeIfPresent(DiskBus.self, forKey: .bus) ?? .virtio
        readOnly = try c.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
        shareable = try c.decodeIfPresent(Bool.self, forKey: .shareable) ?? false
        format = try c.decodeIfPresent(DiskFormat.self, forKey: .format) ?? Self.defaultFormat(for: source)
        serial = try c.decodeIfPresent(String.self, forKey: .serial)
    }

    /// Problems with this disk, fields prefixed with `field` ("dataDisks[0]").
    public func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if !Self.isValidTarget(target) {
            errors.append(FieldError(field: "\(field).target",
                                     message: "must be a device name like vda, vdb, sda or hda (vd/sd/hd and 1-2 lowercase letters)"))
        }
        if let serial, let e = Self.serialProblem(serial, field: "\(field).serial") { errors.append(e) }
        switch source {
        case .file(let path):
            if let e = SpecRules.absolutePath(path, field: "\(field).source.path") { errors.append(e) }
        case .volume(let pool, let name):
            if let e = Validate.name(pool, field: "\(field).source.pool") { errors.append(e) }
            if let e = SpecRules.volumeName(name, field: "\(field).source.name") { errors.append(e) }
        case .rbd(let pool, let image, let monitors, let authUser, let secretUuid):
            if let e = Validate.name(pool, field: "\(field).source.pool") { errors.append(e) }
            if let e = SpecRules.volumeName(image, field: "\(field).source.image") { errors.append(e) }
            if monitors.isEmpty {
                errors.append(FieldError(field: "\(field).source.monitors", message: "must name at least one Ceph monitor"))
            }
            for (i, m) in monitors.enumerated() {
                if let e = SpecRules.monitor(m, field: "\(field).source.monitors[\(i)]") { errors.append(e) }
            }
            if let authUser {
                if let e = SpecRules.cephUser(authUser, field: "\(field).source.authUser") { errors.append(e) }
                if secretUuid == nil {
                    errors.append(FieldError(field: "\(field).source.secretUuid",
                                             message: "must name the libvirt secret holding the key of authUser"))
                }
            }
            if let secretUuid {
                if UUID(uuidString: secretUuid) == nil {
                    errors.append(FieldError(field: "\(field).source.secretUuid", message: "must be a UUID"))
                }
                if authUser == nil {
                    errors.append(FieldError(field: "\(field).source.authUser", message: "must be set when secretUuid is"))
                }
            }
        }
        return errors
    }

    static func isValidTarget(_ t: String) -> Bool {
        let b = Array(t.utf8)
        guard (3...4).contains(b.count) else { return false }
        let prefix = String(decoding: b[0..<2], as: UTF8.self)
        guard ["vd", "sd", "hd"].contains(prefix) else { return false }
        return b[2...].allSatisfy { $0 >= 0x61 && $0 <= 0x7A }
    }
}

// MARK: - NICs

/// What a NIC plugs into.
public enum NicAttachment: Codable, Sendable, Hashable {
    /// A libvirt virtual network.
    case network(String)
    /// A host bridge (Linux bridge or Open vSwitch).
    case bridge(String)

    public static let types = ["network", "bridge"]

    public var type: String {
        switch self {
        case .network: "network"
        case .bridge: "bridge"
        }
    }

    public var name: String {
        switch self {
        case .network(let n), .bridge(let n): n
        }
    }

    private enum CodingKeys: String, CodingKey { case type, name }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        let name = try c.decode(String.self, forKey: .name)
        switch type {
        case "network": self = .network(name)
        case "bridge": self = .bridge(name)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "must be one of " + Self.types.joined(separator: ", "))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(name, forKey: .name)
    }
}

/// The emulated NIC model.
public enum NicModel: String, Codable, Sendable, Hashable, CaseIterable {
    case virtio, e1000, e1000e, rtl8139
}

/// The kind of virtual port a bridge NIC plugs into (libvirt's `<virtualport type=…/>`).
public enum VirtualPortType: String, Codable, Sendable, Hashable, CaseIterable {
    /// An Open vSwitch port: libvirt adds the VM's tap to the bridge with `ovs-vsctl`, with its VLAN tag.
    case openvswitch
}

/// One network interface of a VM.
public struct NicSpec: Codable, Sendable, Hashable {
    /// "52:54:00:12:34:56" (six two-digit hex groups, ':'-separated).
    public var mac: String
    public var attachment: NicAttachment
    /// 802.1Q tag, 1...4094; nil for untagged. On a bridge it needs `virtualPort == .openvswitch` (libvirt tags
    /// only Open vSwitch ports).
    public var vlanTag: Int?
    /// Default virtio.
    public var model: NicModel
    /// The bridge's port type; nil for a plain Linux bridge or a libvirt network. Only on a `.bridge` attachment.
    public var virtualPort: VirtualPortType?

    public init(mac: String, attachment: NicAttachment, vlanTag: Int? = nil, model: NicModel = .virtio,
                virtualPort: VirtualPortType? = nil) {
        self.mac = mac
        self.attachment = attachment
        self.vlanTag = vlanTag
        self.model = model
        self.virtualPort = virtualPort
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mac = try c.decode(String.self, forKey: .mac)
        attachment = try c.decode(NicAttachment.self, forKey: .attachment)
        vlanTag = try c.decodeIfPresent(Int.self, forKey: .vlanTag)
        model = try c.decodeIfPresent(NicModel.self, forKey: .model) ?? .virtio
        virtualPort = try c.decodeIfPresent(VirtualPortType.self, forKey: .virtualPort)
    }

    public func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if let e = Validate.macAddress(mac, field: "\(field).mac") {
            errors.append(e)
        } else if let m = MACAddress(mac), m.bytes[0] & 1 == 1 {
            errors.append(FieldError(field: "\(field).mac", message: "must be a unicast address (first byte even)"))
        }
        switch attachment {
        case .network(let n):
            if let e = Validate.name(n, field: "\(field).attachment.name") { errors.append(e) }
        case .bridge(let n):
            if let e = Validate.name(n, field: "\(field).attachment.name") {
                errors.append(e)
            } else if n.utf8.count > 15 {
                errors.append(FieldError(field: "\(field).attachment.name",
                                         message: "must be at most 15 characters (a Linux interface name)"))
            }
        }
        if let vlanTag, let e = Validate.vlanId(vlanTag, field: "\(field).vlanTag") { errors.append(e) }
        if case .bridge = attachment {
            if vlanTag != nil, virtualPort != .openvswitch {
                errors.append(FieldError(field: "\(field).vlanTag",
                                         message: "on a bridge needs virtualPort openvswitch (libvirt tags only Open vSwitch ports)"))
            }
        } else if let virtualPort {
            errors.append(FieldError(field: "\(field).virtualPort",
                                     message: "\(virtualPort.rawValue) is only for a bridge attachment"))
        }
        return errors
    }
}

// MARK: - Graphics

public enum GraphicsKind: String, Codable, Sendable, Hashable, CaseIterable {
    case vnc, spice
}

/// A graphical console. `passwd` is a console secret: it is never part of `description`, `debugDescription`
/// or `dump` output, and must never be logged (nor the domain XML that carries it).
public struct GraphicsSpec: Codable, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var kind: GraphicsKind
    /// The IP address the console listens on; nil (what Zedge sends, issue #16) for a UNIX socket that libvirt
    /// places under the domain's own directory, reachable only on the host: every console goes through the agent.
    public var listen: String?
    /// A fixed port (5900...65535) with `listen`; nil lets libvirt pick one (autoport).
    public var port: Int?
    /// The console password; nil for one the agent draws at random when it defines the domain (nothing is open by
    /// default, issue #16). Secret.
    public var passwd: String?

    public static let portRange = 5900...65535

    public init(kind: GraphicsKind, listen: String? = nil, port: Int? = nil, passwd: String? = nil) {
        self.kind = kind
        self.listen = listen
        self.port = port
        self.passwd = passwd
    }

    public func validate(field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if let listen, let e = Validate.ipAddress(listen, field: "\(field).listen") { errors.append(e) }
        if let port, let e = Validate.size(port, field: "\(field).port", in: Self.portRange) { errors.append(e) }
        if let passwd {
            // VNC authentication uses at most 8 characters of the password; refuse longer ones rather than
            // silently weakening them.
            let maxLength = kind == .vnc ? 8 : 64
            let b = Array(passwd.utf8)
            if b.isEmpty || b.count > maxLength {
                errors.append(FieldError(field: "\(field).passwd", message: "must be 1-\(maxLength) characters"))
            } else if !b.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                errors.append(FieldError(field: "\(field).passwd",
                                         message: "must contain only printable ASCII characters, no spaces"))
            }
        }
        return errors
    }

    public var description: String {
        "GraphicsSpec(kind: \(kind), listen: \(listen ?? "socket"), port: \(port.map(String.init) ?? "auto"), passwd: \(passwd == nil ? "none" : "<redacted>"))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "kind": kind, "listen": listen ?? "socket", "port": port as Any,
            "passwd": passwd == nil ? "none" : "<redacted>",
        ])
    }
}

// MARK: - GPUs

/// A host PCI device passed through to the guest.
public struct GpuSpec: Codable, Sendable, Hashable {
    /// "0000:65:00.0": domain (4 hex digits), bus (2), slot (2, ≤ 1f), function (0-7).
    public var pciAddress: String

    public init(pciAddress: String) { self.pciAddress = pciAddress }

    /// The parsed address; nil if `pciAddress` is not in that form.
    public var parsedAddress: PCIAddress? { PCIAddress(pciAddress) }

    public func validate(field: String) -> FieldError? {
        parsedAddress == nil
            ? FieldError(field: "\(field).pciAddress",
                         message: "must be a PCI address domain:bus:slot.function, e.g. 0000:65:00.0")
            : nil
    }
}

/// A PCI address, domain:bus:slot.function.
public struct PCIAddress: Sendable, Hashable, CustomStringConvertible {
    public var domain: UInt16
    public var bus: UInt8
    /// 0...0x1f.
    public var slot: UInt8
    /// 0...7.
    public var function: UInt8

    /// Parses "dddd:bb:ss.f" (hex; exactly 4, 2, 2 and 1 digits).
    public init?(_ text: String) {
        let b = Array(text.utf8)
        guard b.count == 12, b[4] == UInt8(ascii: ":"), b[7] == UInt8(ascii: ":"), b[10] == UInt8(ascii: ".") else {
            return nil
        }
        func hex(_ r: Range<Int>) -> UInt32? {
            var v: UInt32 = 0
            for c in b[r] {
                guard isHexDigit(c) else { return nil }
                v = v << 4 | UInt32(hexValue(c))
            }
            return v
        }
        guard let d = hex(0..<4), let bus = hex(5..<7), let s = hex(8..<10), let f = hex(11..<12), s <= 0x1F, f <= 7
        else { return nil }
        domain = UInt16(d)
        self.bus = UInt8(bus)
        slot = UInt8(s)
        function = UInt8(f)
    }

    public var description: String {
        func h(_ v: some BinaryInteger, _ width: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(h(domain, 4)):\(h(bus, 2)):\(h(slot, 2)).\(h(function, 1))"
    }
}

// MARK: - Rules shared by the specs

enum SpecRules {
    /// An absolute path without control characters, NUL, or '..' components.
    static func absolutePath(_ p: String, field: String) -> FieldError? {
        let b = Array(p.utf8)
        guard b.first == UInt8(ascii: "/") else { return FieldError(field: field, message: "must be an absolute path") }
        if b.count > 4096 { return FieldError(field: field, message: "must be at most 4096 characters") }
        if b.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return FieldError(field: field, message: "must not contain control characters")
        }
        if p.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
            return FieldError(field: field, message: "must not contain '.' or '..' components")
        }
        return nil
    }

    /// A storage volume or RBD image name: 1...255 of letters, digits, '.', '_', '-', not starting with '.' or '-'.
    static func volumeName(_ n: String, field: String) -> FieldError? {
        let b = Array(n.utf8)
        if b.isEmpty { return FieldError(field: field, message: "must not be empty") }
        if b.count > 255 { return FieldError(field: field, message: "must be at most 255 characters") }
        guard b.allSatisfy({ isAlnumASCII($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
            return FieldError(field: field, message: "may contain only letters, digits, '.', '_' and '-'")
        }
        if b[0] == 0x2E || b[0] == 0x2D { return FieldError(field: field, message: "must not start with '.' or '-'") }
        return nil
    }

    /// A Ceph user name without the "client." prefix: letters, digits, '.', '_', '-'.
    static func cephUser(_ n: String, field: String) -> FieldError? {
        volumeName(n, field: field)
    }

    /// A Ceph monitor: "host", "host:port", "ipv6" or "[ipv6]:port", where host is a hostname or IPv4 address.
    static func monitor(_ m: String, field: String) -> FieldError? {
        guard let (host, port) = splitHostPort(m) else {
            return FieldError(field: field, message: "must be host, host:port or [ipv6]:port")
        }
        if let port, !(1...65535).contains(port) {
            return FieldError(field: field, message: "port must be 1-65535")
        }
        if IPAddress(host) == nil, Validate.hostname(host, field: field) != nil {
            return FieldError(field: field, message: "must be a hostname or IP address, optionally with :port")
        }
        return nil
    }

    /// Splits "host", "host:port", "v6addr" or "[v6addr]:port". nil if the form is broken.
    static func splitHostPort(_ m: String) -> (host: String, port: Int?)? {
        if m.hasPrefix("[") {
            guard let close = m.firstIndex(of: "]") else { return nil }
            let host = String(m[m.index(after: m.startIndex)..<close])
            let rest = m[m.index(after: close)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()) else { return nil }
            return (host, port)
        }
        let colons = m.filter { $0 == ":" }.count
        if colons == 1 {
            let parts = m.split(separator: ":", omittingEmptySubsequences: false)
            guard let port = Int(parts[1]) else { return nil }
            return (String(parts[0]), port)
        }
        return (m, nil)
    }

    @inline(__always) static func isAlnumASCII(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A)
    }
}
