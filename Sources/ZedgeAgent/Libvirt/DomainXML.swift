#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// Renders a `VmSpec` as libvirt domain XML. Pure: no I/O, no libvirt calls.
///
/// Every interpolated string goes through `xmlEscape`, so a hostile value cannot add elements or attributes.
/// The output carries the console password when the spec has one: never log it.
public enum DomainXML {
    /// The SHA-256 of the root image recorded in a domain's Zedge metadata element (as
    /// `virDomainGetMetadata` returns it), or nil when there is none or the attribute is not exactly 64 hex
    /// digits (a longer value is not a SHA-256 whose first 64 digits happen to match: found by fuzz-domain-xml).
    public static func rootImageSHA256(inMetadata xml: String) -> String? {
        guard let tag = xml.firstRange(of: ":rootImage ") ?? xml.firstRange(of: "<rootImage ") else { return nil }
        let rest = xml[tag.upperBound...]
        for quote in ["\"", "'"] {
            if let start = rest.firstRange(of: "sha256=\(quote)") {
                let value = rest[start.upperBound...].prefix(65)
                if value.hasSuffix(quote), ImageRef.isSHA256Hex(String(value.dropLast())) { return String(value.dropLast()) }
            }
        }
        return nil
    }

    /// The XML namespace of the metadata element that marks domains this agent defined.
    public static let metadataNamespace = "https://zedge.dev/xmlns/vm/1"
    /// The element's name inside `<metadata>` (with prefix `zedge`).
    public static let metadataElement = "vm"
    public static let metadataPrefix = "zedge"

    /// Host files a domain refers to besides its disks: where its serial console is logged and its cloud-init
    /// seed ISO (both under the agent's state dir, see `AgentLayout`).
    public struct HostFiles: Sendable, Hashable {
        /// The serial console's log file (`<log file=… append='on'/>`); nil for none.
        public var consoleLogPath: String?
        /// The NoCloud seed, attached as a read-only IDE cdrom; nil for none.
        public var seedISOPath: String?

        public init(consoleLogPath: String? = nil, seedISOPath: String? = nil) {
            self.consoleLogPath = consoleLogPath
            self.seedISOPath = seedISOPath
        }
    }

    /// IDE targets for the seed cdrom, in order of preference (hdc: secondary master, where a cdrom usually sits).
    public static let seedTargets = ["hdc", "hdd", "hdb", "hda"]

    /// The seed cdrom's target: the first of `seedTargets` no disk of `spec` uses; nil if all are taken.
    public static func seedTarget(for spec: VmSpec) -> String? {
        let used = Set(spec.allDisks.map(\.target))
        return seedTargets.first { !used.contains($0) }
    }

    /// The domain XML for `spec`. `domainType` is libvirt's `<domain type=…>`: "kvm" or "qemu" with the QEMU
    /// driver, "test" with `test:///…`.
    ///
    /// The Zedge metadata element marks the domain as the agent's and records the root image it was made from:
    /// `<zedge:vm xmlns:zedge='…'><zedge:rootImage sha256='…' imageId='…' versionId='…'/></zedge:vm>` (the
    /// image cache asks libvirt which images domains use before it evicts one).
    public static func render(_ spec: VmSpec, domainType: String, cpuMode: CPUMode = .hostPassthrough,
                              files: HostFiles = .init()) -> String {
        var x = DomainXMLWriter()
        x.open("domain", [("type", domainType)])
        x.element("name", text: spec.name)
        x.element("uuid", text: spec.uuid.uuidString.lowercased())
        x.open("metadata")
        let element = "\(metadataPrefix):\(metadataElement)"
        let namespace = [("xmlns:\(metadataPrefix)", metadataNamespace)]
        if let image = spec.rootImage?.image {
            x.open(element, namespace)
            x.empty("\(metadataPrefix):rootImage", [("sha256", image.sha256), ("imageId", image.imageId.uuidString.lowercased()),
                                                   ("versionId", image.versionId.uuidString.lowercased())])
            x.close(element)
        } else {
            x.empty(element, namespace)
        }
        x.close("metadata")
        x.element("memory", attrs: [("unit", "MiB")], text: String(spec.memoryMiB))
        x.element("currentMemory", attrs: [("unit", "MiB")], text: String(spec.memoryMiB))
        x.element("vcpu", attrs: [("placement", "static")], text: String(spec.vcpus))
        x.open("os")
        x.element("type", attrs: [("arch", "x86_64")], text: "hvm")
        x.empty("boot", [("dev", "hd")])
        x.close("os")
        x.open("features")
        x.empty("acpi")
        x.empty("apic")
        x.close("features")
        if domainType == "kvm", cpuMode != .hypervisorDefault {
            x.empty("cpu", [("mode", cpuMode.rawValue), ("check", "none")])
        }
        x.element("on_poweroff", text: "destroy")
        x.element("on_reboot", text: "restart")
        x.element("on_crash", text: "destroy")

        x.open("devices")
        for disk in spec.allDisks { renderDisk(disk, into: &x) }
        if let seed = files.seedISOPath, let target = seedTarget(for: spec) {
            x.open("disk", [("type", "file"), ("device", "cdrom")])
            x.empty("driver", [("name", "qemu"), ("type", "raw")])
            x.empty("source", [("file", seed)])
            x.empty("target", [("dev", target), ("bus", "ide")])
            x.empty("readonly")
            x.close("disk")
        }
        for nic in spec.nics { renderNic(nic, into: &x) }
        x.open("serial", [("type", "pty")])
        if let log = files.consoleLogPath { x.empty("log", [("file", log), ("append", "on")]) }
        x.empty("target", [("port", "0")])
        x.close("serial")
        x.open("console", [("type", "pty")])
        x.empty("target", [("type", "serial"), ("port", "0")])
        x.close("console")
        if let g = spec.graphics { renderGraphics(g, into: &x) }
        for gpu in spec.gpus { renderHostdev(gpu, into: &x) }
        x.close("devices")
        x.close("domain")
        return x.output
    }

    /// One `<disk>` device on its own, for `virDomainAttachDeviceFlags` (the same element `render` puts in
    /// `<devices>`).
    public static func renderDisk(_ disk: DiskSpec) -> String {
        var x = DomainXMLWriter()
        renderDisk(disk, into: &x)
        return x.output
    }

    /// The live graphics device again with a new password, for virDomainUpdateDeviceFlags: the device's type and
    /// listen as the running domain has them (libvirt refuses a change of either), `passwd`, `passwdValidTo` (UTC,
    /// `YYYY-MM-DDTHH:MM:SS`; none for no expiry) and `connected='keep'` (sessions in progress stay; libvirt 9
    /// allows only that for VNC).
    public static func renderGraphicsPassword(type: String, listens: [[(String, String)]], password: String, validUntil: Date?) -> String {
        var x = DomainXMLWriter()
        var attrs = [("type", type), ("passwd", password)]
        if let validUntil {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: validUntil)
            func two(_ v: Int?) -> String { v.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
            attrs.append(("passwdValidTo", "\(c.year ?? 1970)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second))"))
        }
        attrs.append(("connected", "keep"))
        x.open("graphics", attrs)
        for listen in listens { x.empty("listen", listen) }
        x.close("graphics")
        return x.output
    }

    /// A shareable disk gets `cache='none'` (QEMU must not cache what another domain writes); `<serial>` is
    /// what the guest sees as the disk's serial (`/dev/disk/by-id/virtio-SERIAL`).
    private static func renderDisk(_ disk: DiskSpec, into x: inout DomainXMLWriter) {
        let type: String = switch disk.source {
        case .file: "file"
        case .volume: "volume"
        case .rbd: "network"
        }
        x.open("disk", [("type", type), ("device", "disk")])
        var driver = [("name", "qemu"), ("type", disk.format.rawValue)]
        if disk.shareable { driver.append(("cache", "none")) }
        x.empty("driver", driver)
        switch disk.source {
        case .file(let path):
            x.empty("source", [("file", path)])
        case .volume(let pool, let name):
            x.empty("source", [("pool", pool), ("volume", name)])
        case .rbd(let pool, let image, let monitors, let authUser, let secretUuid):
            if let authUser {
                x.open("auth", [("username", authUser)])
                if let secretUuid { x.empty("secret", [("type", "ceph"), ("uuid", secretUuid)]) }
                x.close("auth")
            }
            x.open("source", [("protocol", "rbd"), ("name", "\(pool)/\(image)")])
            for m in monitors {
                let (host, port) = DiskSource.monitorHostPort(m) ?? (m, nil)
                var attrs = [("name", host)]
                if let port { attrs.append(("port", String(port))) }
                x.empty("host", attrs)
            }
            x.close("source")
        }
        x.empty("target", [("dev", disk.target), ("bus", disk.bus.rawValue)])
        if let serial = disk.serial { x.element("serial", text: serial) }
        if disk.readOnly { x.empty("readonly") }
        if disk.shareable { x.empty("shareable") }
        x.close("disk")
    }

    /// `<interface>` in the order libvirt's own dumpxml prints it: mac, source, vlan, virtualport, model. An Open
    /// vSwitch port carries `<virtualport type='openvswitch'/>`, without which libvirt refuses a `<vlan>` on a
    /// bridge ("vlan tag not supported for this connection type").
    private static func renderNic(_ nic: NicSpec, into x: inout DomainXMLWriter) {
        x.open("interface", [("type", nic.attachment.type)])
        x.empty("mac", [("address", MACAddress(nic.mac)?.description ?? nic.mac)])
        switch nic.attachment {
        case .network(let name): x.empty("source", [("network", name)])
        case .bridge(let name): x.empty("source", [("bridge", name)])
        }
        if let tag = nic.vlanTag {
            x.open("vlan")
            x.empty("tag", [("id", String(tag))])
            x.close("vlan")
        }
        if let port = nic.virtualPort { x.empty("virtualport", [("type", port.rawValue)]) }
        x.empty("model", [("type", nic.model.rawValue)])
        x.close("interface")
    }

    /// Graphics on a UNIX socket (no `listen`: libvirt puts it in the domain's directory) or on an address.
    private static func renderGraphics(_ g: GraphicsSpec, into x: inout DomainXMLWriter) {
        var attrs: [(String, String)] = [("type", g.kind.rawValue)]
        guard let listen = g.listen else {
            if let passwd = g.passwd { attrs.append(("passwd", passwd)) }
            x.open("graphics", attrs)
            x.empty("listen", [("type", "socket")])
            x.close("graphics")
            return
        }
        if let port = g.port {
            attrs += [("port", String(port)), ("autoport", "no")]
        } else {
            attrs += [("port", "-1"), ("autoport", "yes")]
        }
        attrs.append(("listen", listen))
        if let passwd = g.passwd { attrs.append(("passwd", passwd)) }
        x.open("graphics", attrs)
        x.empty("listen", [("type", "address"), ("address", listen)])
        x.close("graphics")
    }

    private static func renderHostdev(_ gpu: GpuSpec, into x: inout DomainXMLWriter) {
        // Validation refuses malformed addresses; render nothing rather than a broken element if one slips by.
        guard let a = gpu.parsedAddress else { return }
        func hex(_ v: some BinaryInteger, _ width: Int) -> String {
            let s = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: max(0, width - s.count)) + s
        }
        x.open("hostdev", [("mode", "subsystem"), ("type", "pci"), ("managed", "yes")])
        x.open("source")
        x.empty("address", [("domain", hex(a.domain, 4)), ("bus", hex(a.bus, 2)), ("slot", hex(a.slot, 2)),
                            ("function", hex(a.function, 1))])
        x.close("source")
        x.close("hostdev")
    }

    /// Escapes text for XML character data or a quoted attribute value (`MarkupEscape.text`).
    public static func xmlEscape(_ s: String) -> String { MarkupEscape.text(s) }
}

/// A minimal indenting XML writer; attribute values and text are always escaped.
private struct DomainXMLWriter {
    private(set) var output = ""
    private var depth = 0

    private var indent: String { String(repeating: "  ", count: depth) }

    private func attributes(_ attrs: [(String, String)]) -> String {
        attrs.map { " \($0.0)='\(DomainXML.xmlEscape($0.1))'" }.joined()
    }

    mutating func open(_ name: String, _ attrs: [(String, String)] = []) {
        output += "\(indent)<\(name)\(attributes(attrs))>\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        output += "\(indent)</\(name)>\n"
    }

    mutating func empty(_ name: String, _ attrs: [(String, String)] = []) {
        output += "\(indent)<\(name)\(attributes(attrs))/>\n"
    }

    mutating func element(_ name: String, attrs: [(String, String)] = [], text: String) {
        output += "\(indent)<\(name)\(attributes(attrs))>\(DomainXML.xmlEscape(text))</\(name)>\n"
    }

    /// Appends already-well-formed XML on its own line.
    mutating func raw(_ xml: String) {
        output += "\(indent)\(xml)\n"
    }
}

/// How a KVM guest's CPU is modelled: a host setting (the agent's `--cpu-mode`), since it depends on the
/// hardware and on whether the host is itself a VM (nested KVM often refuses host CPU features).
public enum CPUMode: String, Sendable, CaseIterable {
    /// The host's CPU as it is: fastest; not migratable between different CPUs.
    case hostPassthrough = "host-passthrough"
    /// A named model close to the host's.
    case hostModel = "host-model"
    /// No `<cpu>` element: QEMU's default model (works everywhere, nested hosts included).
    case hypervisorDefault = "default"
}

