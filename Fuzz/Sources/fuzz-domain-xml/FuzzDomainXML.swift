import Foundation
import FuzzDriver
import ZedgeAgent
import ZedgeCore

// Arbitrary VmSpecs (names, paths, pools, monitors, MACs, bridges, console passwords, PCI addresses, domain
// types: any text, valid or not) through DomainXML.render and renderDisk. The rendered XML must parse with the
// agent's own reader (XMLTree, libxml2), have the structure asked for, and carry every value as given, after the
// one documented change: characters XML 1.0 cannot carry become U+FFFD (DomainXML.xmlEscape).

/// The executable's entry point (SwiftPM links `main` to `fuzz_domain_xml_main`): libFuzzer's driver with this target.
@_cdecl("fuzz_domain_xml_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzDomainXML(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDomainXML(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(UnsafeRawBufferPointer(start: start, count: count))
    let spec = input.vmSpec()
    let domainType = input.pick(["kvm", "qemu", "test"]) ?? input.string()
    let cpuMode = CPUMode.allCases[Int(input.byte()) % CPUMode.allCases.count]
    let files = DomainXML.HostFiles(consoleLogPath: input.optionalString(), seedISOPath: input.optionalString())

    let xml = DomainXML.render(spec, domainType: domainType, cpuMode: cpuMode, files: files)
    let root = parse(xml)
    expect(root.name == "domain", "root is not <domain>", xml)
    expect(root.attribute("type") == carried(domainType), "domain type", xml)
    expect(root.elements(named: "name").map(\.stringValue) == [carried(spec.name)], "name", xml)
    expect(root.elements(named: "uuid").map(\.stringValue) == [spec.uuid.uuidString.lowercased()], "uuid", xml)
    expect(root.elements(named: "memory").map(\.stringValue) == [String(spec.memoryMiB)], "memory", xml)

    let devices = root.elements(named: "devices")
    expect(devices.count == 1, "one <devices>", xml)
    let disks = devices[0].elements(named: "disk")
    let seed = files.seedISOPath != nil && DomainXML.seedTarget(for: spec) != nil
    expect(disks.count == spec.allDisks.count + (seed ? 1 : 0), "disk count", xml)
    for (disk, element) in zip(spec.allDisks, disks) {
        check(disk, element, xml)
        let alone = parse(DomainXML.renderDisk(disk))
        expect(alone.name == "disk", "renderDisk's root", xml)
        check(disk, alone, xml)
    }
    if seed, let last = disks.last {
        expect(last.elements(named: "source").first?.attribute("file") == carried(files.seedISOPath!), "seed path", xml)
    }
    let interfaces = devices[0].elements(named: "interface")
    expect(interfaces.count == spec.nics.count, "interface count", xml)
    for (nic, element) in zip(spec.nics, interfaces) {
        let source = element.elements(named: "source").first
        expect(source?.attribute(nic.attachment.type) == carried(nic.attachment.name), "nic source", xml)
        expect(element.elements(named: "vlan").first?.elements(named: "tag").first?.attribute("id") == nic.vlanTag.map(String.init),
               "vlan tag", xml)
    }
    let serial = devices[0].elements(named: "serial").first
    expect(serial?.elements(named: "log").first?.attribute("file") == files.consoleLogPath.map(carried), "console log", xml)
    let graphics = devices[0].elements(named: "graphics")
    expect(graphics.count == (spec.graphics == nil ? 0 : 1), "graphics count", xml)
    if let g = spec.graphics, let element = graphics.first {
        expect(element.attribute("listen") == carried(g.listen), "graphics listen", xml)
        expect(element.attribute("passwd") == g.passwd.map(carried), "graphics passwd", xml)
    }
    expect(devices[0].elements(named: "hostdev").count == spec.gpus.filter { $0.parsedAddress != nil }.count, "hostdev count", xml)
    if let image = spec.rootImage?.image {
        let metadata = root.elements(named: "metadata").first?.children.first?.elements(named: "rootImage").first
        expect(metadata?.attribute("sha256") == carried(image.sha256), "root image sha256", xml)
        expect(metadata.map { DomainXML.rootImageSHA256(inMetadata: $0.xmlString) } == (ImageRef.isSHA256Hex(image.sha256) ? image.sha256 : nil),
               "rootImageSHA256 of the metadata", xml)
    }
    return 0
}

/// A disk element against its spec.
func check(_ disk: DiskSpec, _ element: XMLTree.Element, _ xml: String) {
    let source = element.elements(named: "source").first
    switch disk.source {
    case .file(let path):
        expect(source?.attribute("file") == carried(path), "disk file", xml)
    case .volume(let pool, let name):
        expect(source?.attribute("pool") == carried(pool) && source?.attribute("volume") == carried(name), "disk volume", xml)
    case .rbd(let pool, let image, let monitors, let authUser, _):
        expect(source?.attribute("name") == carried("\(pool)/\(image)"), "rbd name", xml)
        expect(source?.elements(named: "host").count == monitors.count, "rbd hosts", xml)
        expect(element.elements(named: "auth").first?.attribute("username") == authUser.map(carried), "rbd user", xml)
    }
    expect(element.elements(named: "target").first?.attribute("dev") == carried(disk.target), "disk target", xml)
    expect(element.elements(named: "serial").first?.stringValue == disk.serial.map(carried), "disk serial", xml)
    expect(element.elements(named: "readonly").isEmpty != disk.readOnly, "readonly", xml)
}

/// `text` as XML gives it back: what `DomainXML.xmlEscape` cannot carry becomes U+FFFD.
func carried(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        let v = scalar.value
        let representable = v == 0x09 || v == 0x0A || v == 0x0D || (v >= 0x20 && v != 0xFFFE && v != 0xFFFF)
        out.append(representable ? scalar : "\u{FFFD}")
    }
    return String(out)
}

func parse(_ xml: String) -> XMLTree.Element {
    do {
        return try XMLTree(xmlString: xml).root
    } catch {
        fatalError("rendered XML does not parse (\(error)):\n\(xml)")
    }
}

func expect(_ condition: Bool, _ what: String, _ xml: String) {
    if !condition { fatalError("rendered XML loses the \(what):\n\(xml)") }
}

/// Reads a VmSpec's parts from the fuzzer's bytes (zeros once they run out).
struct FuzzInput {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        guard i < bytes.count else { return 0 }
        defer { i += 1 }
        return bytes[i]
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func int() -> Int {
        switch byte() % 4 {
        case 0: Int(byte())
        case 1: Int(Int16(bitPattern: UInt16(byte()) << 8 | UInt16(byte())))
        case 2: [Int.min, Int.max, -1, 0, 4096, 65_535][Int(byte()) % 6]
        default: (0..<8).reduce(0) { acc, _ in acc << 8 | Int(byte()) }
        }
    }

    /// Up to 63 bytes as UTF-8 (invalid sequences become U+FFFD, as `String(decoding:)` makes them).
    mutating func string() -> String {
        let n = min(Int(byte() % 64), bytes.count - min(i, bytes.count))
        defer { i += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<i + n]), as: UTF8.self)
    }

    mutating func optionalString() -> String? { bool() ? string() : nil }

    /// One of `choices` (most of the time), or nil to ask for free text.
    mutating func pick(_ choices: [String]) -> String? {
        let b = Int(byte())
        return b < 192 ? choices[b % choices.count] : nil
    }

    mutating func uuid() -> UUID {
        UUID(uuid: (byte(), byte(), byte(), byte(), byte(), byte(), byte(), byte(),
                    byte(), byte(), byte(), byte(), byte(), byte(), byte(), byte()))
    }

    mutating func hex(_ digits: Int) -> String {
        (0..<digits).map { _ in String(byte() % 16, radix: 16) }.joined()
    }

    /// A SHA-256 as the agent writes it, the same with text after it, or any text.
    mutating func sha256() -> String {
        switch byte() % 3 {
        case 0: hex(64)
        case 1: hex(64) + string()
        default: string()
        }
    }

    mutating func disk() -> DiskSpec {
        let source: DiskSource = switch byte() % 3 {
        case 0: .file(path: string())
        case 1: .volume(pool: string(), name: string())
        default: .rbd(pool: string(), image: string(), monitors: (0..<Int(byte() % 4)).map { _ in string() },
                      authUser: optionalString(), secretUuid: optionalString())
        }
        return DiskSpec(source: source, target: pick(["vda", "vdb", "sda", "hdc", "hda"]) ?? string(),
                        bus: DiskBus.allCases[Int(byte()) % DiskBus.allCases.count], readOnly: bool(), shareable: bool(),
                        format: DiskFormat.allCases[Int(byte()) % DiskFormat.allCases.count], serial: optionalString())
    }

    mutating func nic() -> NicSpec {
        let mac = bool() ? (0..<6).map { _ in hex(2) }.joined(separator: ":") : string()
        let name = string()
        return NicSpec(mac: mac, attachment: bool() ? .network(name) : .bridge(name), vlanTag: bool() ? int() : nil,
                       model: NicModel.allCases[Int(byte()) % NicModel.allCases.count],
                       virtualPort: bool() ? VirtualPortType.allCases[Int(byte()) % VirtualPortType.allCases.count] : nil)
    }

    mutating func vmSpec() -> VmSpec {
        let name = string()
        let domainUUID = uuid()
        let vcpus = int(), memory = int()
        let root = disk()
        let data = (0..<Int(byte() % 4)).map { _ in disk() }
        let nics = (0..<Int(byte() % 4)).map { _ in nic() }
        let graphics: GraphicsSpec? = bool()
            ? GraphicsSpec(kind: bool() ? .vnc : .spice, listen: pick(["127.0.0.1", "::1"]) ?? string(),
                           port: bool() ? int() : nil, passwd: optionalString())
            : nil
        let gpus = (0..<Int(byte() % 3)).map { _ in
            GpuSpec(pciAddress: bool() ? "\(hex(4)):\(hex(2)):\(hex(2)).\(hex(1))" : string())
        }
        let rootImage: RootImageSpec? = bool()
            ? RootImageSpec(image: ImageRef(imageId: uuid(), versionId: uuid(), sha256: sha256(),
                                            sizeBytes: Int64(int()), virtualSizeBytes: Int64(int()),
                                            format: bool() ? .qcow2 : .raw),
                            sizeGb: int())
            : nil
        return VmSpec(name: name, uuid: domainUUID, vcpus: vcpus, memoryMiB: memory, rootDisk: root, dataDisks: data, nics: nics,
                      graphics: graphics, gpus: gpus, rootImage: rootImage)
    }
}
