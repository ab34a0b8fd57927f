#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// One `<disk>` device of a domain, as libvirt's domain XML describes it (`virDomainGetXMLDesc`; libvirt docs:
/// formatdomain.html "Hard drives, floppy disks, CDROMs"). Read with a real XML parser (libxml2, `XMLTree`), so
/// attribute quoting, entities and element order do not matter.
///
/// The agent reads disks to attach and detach RBD images idempotently (is `POOL/IMAGE` there already, which
/// `vd…` targets are taken) and to report a domain's RBD disks in the heartbeat (`ObservedVm.disks`).
public struct DomainDisk: Sendable, Hashable {
    /// `<disk type=…>`: file, block, network, volume, …
    public var type: String
    /// `<disk device=…>`: disk, cdrom, …
    public var device: String
    /// `<target dev=…>`, e.g. "vdb".
    public var target: String
    /// `<target bus=…>`, e.g. "virtio".
    public var bus: String?
    /// `<source protocol=…>` of a network disk, e.g. "rbd".
    public var sourceProtocol: String?
    /// `<source name=…>` of a network disk: "POOL/IMAGE" for RBD.
    public var sourceName: String?
    public var readOnly: Bool
    public var shareable: Bool
    public var serial: String?
    /// The `<disk>` element as libvirt wrote it, e.g. for `virDomainDetachDeviceFlags` (empty when made by hand).
    public var xml: String

    public init(type: String, device: String, target: String, bus: String? = nil, sourceProtocol: String? = nil,
                sourceName: String? = nil, readOnly: Bool = false, shareable: Bool = false, serial: String? = nil,
                xml: String = "") {
        self.type = type
        self.device = device
        self.target = target
        self.bus = bus
        self.sourceProtocol = sourceProtocol
        self.sourceName = sourceName
        self.readOnly = readOnly
        self.shareable = shareable
        self.serial = serial
        self.xml = xml
    }

    /// True for an RBD image `rbdPool/image` attached as a network disk.
    public func isRbd(pool rbdPool: String, image: String) -> Bool {
        type == "network" && sourceProtocol == "rbd" && sourceName == "\(rbdPool)/\(image)"
    }

    /// The disk as the heartbeat reports it, when it is an RBD network disk; nil for every other disk.
    public var observed: ObservedDisk? {
        guard type == "network", sourceProtocol == "rbd", let name = sourceName,
              let slash = name.firstIndex(of: "/") else { return nil }
        return ObservedDisk(rbdPool: String(name[..<slash]), image: String(name[name.index(after: slash)...]),
                            target: target, readOnly: readOnly, shareable: shareable)
    }

    /// Every `<domain><devices><disk>` of `xml`, in document order (a disk without a target is skipped).
    /// Throws when `xml` is not XML or not a `<domain>` (libxml2 recovers what it can of a truncated document).
    public static func parse(domainXML xml: String) throws -> [DomainDisk] {
        let domain = try XMLTree(xmlString: xml).root
        guard domain.name == "domain" else { throw AgentError("not a libvirt domain XML document") }
        return domain.elements(named: "devices").flatMap { $0.elements(named: "disk") }.compactMap { disk in
            let target = disk.elements(named: "target").first
            guard let dev = target?.attribute("dev") else { return nil }
            let source = disk.elements(named: "source").first
            return DomainDisk(
                type: disk.attribute("type") ?? "file", device: disk.attribute("device") ?? "disk", target: dev,
                bus: target?.attribute("bus"), sourceProtocol: source?.attribute("protocol"), sourceName: source?.attribute("name"),
                readOnly: !disk.elements(named: "readonly").isEmpty, shareable: !disk.elements(named: "shareable").isEmpty,
                serial: disk.elements(named: "serial").first?.stringValue, xml: disk.xmlString)
        }
    }

    /// The first `vd…` target (vda…vdz, then vdaa…vdzz) that none of `disks` uses; nil when all are taken.
    public static func firstFreeVirtioTarget(besides disks: [DomainDisk]) -> String? {
        let used = Set(disks.map(\.target))
        let letters = (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        let names = letters.map { "vd" + $0 } + letters.flatMap { first in letters.map { "vd" + first + $0 } }
        return names.first { !used.contains($0) }
    }
}
