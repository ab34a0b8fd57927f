import Foundation
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// A spec that uses every feature the renderer knows.
func fullVmSpec(name: String = "vm-full", uuid: UUID = UUID(uuidString: "0E3B7C2A-9F1D-4E6B-8A5C-1D2E3F4A5B6C")!) -> VmSpec {
    VmSpec(
        name: name, uuid: uuid, vcpus: 4, memoryMiB: 8192,
        rootDisk: DiskSpec(source: .file(path: "/var/lib/zedge/images/root.qcow2"), target: "vda"),
        dataDisks: [
            DiskSpec(source: .volume(pool: "zedge", name: "data-1.qcow2"), target: "vdb", format: .qcow2),
            DiskSpec(
                source: .rbd(pool: "vms", image: "disk-2", monitors: ["10.0.0.1:6789", "mon2.example.com", "[2001:db8::3]:3300"],
                             authUser: "zedge", secretUuid: "a1b2c3d4-e5f6-4711-8899-aabbccddeeff"),
                target: "vdc", readOnly: true, shareable: true),
        ],
        nics: [
            NicSpec(mac: "52:54:00:AA:bb:01", attachment: .network("default")),
            NicSpec(mac: "52:54:00:aa:bb:02", attachment: .bridge("br0"), vlanTag: 42, model: .e1000, virtualPort: .openvswitch),
        ],
        graphics: GraphicsSpec(kind: .vnc, listen: "192.0.2.10", passwd: "s3cr3t"),
        gpus: [GpuSpec(pciAddress: "0000:65:00.0"), GpuSpec(pciAddress: "0001:b3:1f.7")])
}

func minimalVmSpec(name: String, uuid: UUID = UUID()) -> VmSpec {
    VmSpec(name: name, uuid: uuid, vcpus: 1, memoryMiB: 128,
           rootDisk: DiskSpec(source: .file(path: "/var/lib/zedge/\(name).qcow2"), target: "vda"))
}

/// Domain XML is read with the agent's own libxml2 reader (`XMLTree`), never FoundationXML: see CLibXML2/shim.h.
typealias XMLElement = XMLTree.Element

private func parse(_ xml: String) throws -> XMLElement {
    try XMLTree(xmlString: xml).root
}

private func nodes(_ root: XMLElement, _ xpath: String) throws -> [XMLElement] {
    try root.nodes(forXPath: xpath)
}

private func one(_ root: XMLElement, _ xpath: String) throws -> XMLElement {
    let found = try nodes(root, xpath)
    #expect(found.count == 1, "expected one \(xpath), found \(found.count)")
    return try #require(found.first)
}

private func attr(_ e: XMLElement, _ name: String) -> String? { e.attribute(name) }

@Suite("Domain XML rendering")
struct DomainXMLRenderTests {
    let root: XMLElement

    init() throws {
        root = try parse(DomainXML.render(fullVmSpec(), domainType: "kvm"))
    }

    @Test func domainHeader() throws {
        #expect(root.name == "domain")
        #expect(attr(root, "type") == "kvm")
        #expect(try one(root, "name").stringValue == "vm-full")
        #expect(try one(root, "uuid").stringValue == "0e3b7c2a-9f1d-4e6b-8a5c-1d2e3f4a5b6c")
        let memory = try one(root, "memory")
        #expect(attr(memory, "unit") == "MiB")
        #expect(memory.stringValue == "8192")
        #expect(try one(root, "vcpu").stringValue == "4")
    }

    @Test func osFeaturesAndLifecycle() throws {
        let type = try one(root, "os/type")
        #expect(type.stringValue == "hvm")
        #expect(attr(type, "arch") == "x86_64")
        #expect(attr(try one(root, "os/boot"), "dev") == "hd")
        _ = try one(root, "features/acpi")
        _ = try one(root, "features/apic")
        #expect(try one(root, "on_poweroff").stringValue == "destroy")
        #expect(try one(root, "on_reboot").stringValue == "restart")
        #expect(try one(root, "on_crash").stringValue == "destroy")
    }

    @Test func metadataMarksManagedDomain() throws {
        let meta = try one(root, "metadata")
        let children = meta.children
        #expect(children.count == 1)
        let vm = try #require(children.first)
        #expect(vm.localName == "vm")
        #expect(vm.uri == "https://zedge.dev/xmlns/vm/1")
        #expect(vm.children.isEmpty)  // no root image recorded
    }

    @Test func fileDisk() throws {
        let disk = try one(root, "devices/disk[target/@dev='vda']")
        #expect(attr(disk, "type") == "file")
        #expect(attr(disk, "device") == "disk")
        #expect(attr(try one(disk, "source"), "file") == "/var/lib/zedge/images/root.qcow2")
        let driver = try one(disk, "driver")
        #expect(attr(driver, "name") == "qemu")
        #expect(attr(driver, "type") == "qcow2")
        #expect(attr(try one(disk, "target"), "bus") == "virtio")
        #expect(try nodes(disk, "readonly").isEmpty)
        #expect(try nodes(disk, "shareable").isEmpty)
    }

    @Test func volumeDisk() throws {
        let disk = try one(root, "devices/disk[target/@dev='vdb']")
        #expect(attr(disk, "type") == "volume")
        let source = try one(disk, "source")
        #expect(attr(source, "pool") == "zedge")
        #expect(attr(source, "volume") == "data-1.qcow2")
        #expect(attr(try one(disk, "driver"), "type") == "qcow2")
    }

    @Test func rbdDiskWithAuthReadonlyShareable() throws {
        let disk = try one(root, "devices/disk[target/@dev='vdc']")
        #expect(attr(disk, "type") == "network")
        let source = try one(disk, "source")
        #expect(attr(source, "protocol") == "rbd")
        #expect(attr(source, "name") == "vms/disk-2")
        let hosts = try nodes(source, "host")
        #expect(hosts.map { attr($0, "name") } == ["10.0.0.1", "mon2.example.com", "2001:db8::3"])
        #expect(hosts.map { attr($0, "port") } == ["6789", nil, "3300"])
        let auth = try one(disk, "auth")
        #expect(attr(auth, "username") == "zedge")
        let secret = try one(auth, "secret")
        #expect(attr(secret, "type") == "ceph")
        #expect(attr(secret, "uuid") == "a1b2c3d4-e5f6-4711-8899-aabbccddeeff")
        #expect(attr(try one(disk, "driver"), "type") == "raw")  // RBD default format
        _ = try one(disk, "readonly")
        _ = try one(disk, "shareable")
    }

    @Test func interfaces() throws {
        let nics = try nodes(root, "devices/interface")
        #expect(nics.count == 2)
        let net = nics[0]
        #expect(attr(net, "type") == "network")
        #expect(attr(try one(net, "source"), "network") == "default")
        #expect(attr(try one(net, "mac"), "address") == "52:54:00:aa:bb:01")  // normalised to lowercase
        #expect(attr(try one(net, "model"), "type") == "virtio")
        #expect(try nodes(net, "vlan").isEmpty)
        #expect(try nodes(net, "virtualport").isEmpty)
        let br = nics[1]
        #expect(attr(br, "type") == "bridge")
        #expect(attr(try one(br, "source"), "bridge") == "br0")
        #expect(attr(try one(br, "model"), "type") == "e1000")
        #expect(attr(try one(br, "vlan/tag"), "id") == "42")
        #expect(attr(try one(br, "virtualport"), "type") == "openvswitch")
    }

    /// An Open vSwitch port on the integration bridge with a tenant's VLAN, exactly as libvirt's dumpxml
    /// prints such an interface (`<virtualport>` is what makes libvirt accept the `<vlan>` on a bridge).
    @Test func openVSwitchInterfaceWithVlan() throws {
        var spec = minimalVmSpec(name: "ovs")
        spec.nics = [NicSpec(mac: "52:54:00:0A:00:0A", attachment: .bridge("br-zedge"), vlanTag: 100, virtualPort: .openvswitch)]
        let xml = DomainXML.render(spec, domainType: "qemu")
        #expect(xml.contains("""
                <interface type='bridge'>
                  <mac address='52:54:00:0a:00:0a'/>
                  <source bridge='br-zedge'/>
                  <vlan>
                    <tag id='100'/>
                  </vlan>
                  <virtualport type='openvswitch'/>
                  <model type='virtio'/>
                </interface>
            """), "\(xml)")
        // A plain Linux bridge: no virtualport, no vlan.
        spec.nics = [NicSpec(mac: "52:54:00:0a:00:0a", attachment: .bridge("br0"))]
        let plain = try one(try parse(DomainXML.render(spec, domainType: "qemu")), "devices/interface")
        #expect(try nodes(plain, "virtualport").isEmpty && nodes(plain, "vlan").isEmpty)
        #expect(attr(try one(plain, "source"), "bridge") == "br0")
    }

    @Test func vncGraphicsWithAutoport() throws {
        let g = try one(root, "devices/graphics")
        #expect(attr(g, "type") == "vnc")
        #expect(attr(g, "autoport") == "yes")
        #expect(attr(g, "port") == "-1")
        #expect(attr(g, "listen") == "192.0.2.10")
        #expect(attr(g, "passwd") == "s3cr3t")
        let listen = try one(g, "listen")
        #expect(attr(listen, "type") == "address")
        #expect(attr(listen, "address") == "192.0.2.10")
    }

    @Test func spiceGraphicsWithFixedPort() throws {
        var spec = fullVmSpec()
        spec.graphics = GraphicsSpec(kind: .spice, listen: "::1", port: 5930)
        let g = try one(try parse(DomainXML.render(spec, domainType: "qemu")), "devices/graphics")
        #expect(attr(g, "type") == "spice")
        #expect(attr(g, "port") == "5930")
        #expect(attr(g, "autoport") == "no")
        #expect(attr(g, "passwd") == nil)
        #expect(attr(try one(g, "listen"), "address") == "::1")
    }

    @Test func noGraphicsWhenNil() throws {
        var spec = fullVmSpec()
        spec.graphics = nil
        #expect(try nodes(try parse(DomainXML.render(spec, domainType: "qemu")), "devices/graphics").isEmpty)
    }

    @Test func gpuHostdevs() throws {
        let devs = try nodes(root, "devices/hostdev")
        #expect(devs.count == 2)
        #expect(attr(devs[0], "mode") == "subsystem")
        #expect(attr(devs[0], "type") == "pci")
        #expect(attr(devs[0], "managed") == "yes")
        let a = try one(devs[0], "source/address")
        #expect([attr(a, "domain"), attr(a, "bus"), attr(a, "slot"), attr(a, "function")] == ["0x0000", "0x65", "0x00", "0x0"])
        let b = try one(devs[1], "source/address")
        #expect([attr(b, "domain"), attr(b, "bus"), attr(b, "slot"), attr(b, "function")] == ["0x0001", "0xb3", "0x1f", "0x7"])
    }

    @Test func serialConsole() throws {
        #expect(attr(try one(root, "devices/serial"), "type") == "pty")
        #expect(attr(try one(root, "devices/console"), "type") == "pty")
    }

    @Test func cpuModeOnlyForKVM() throws {
        #expect(attr(try one(root, "cpu"), "mode") == "host-passthrough")
        let qemu = try parse(DomainXML.render(fullVmSpec(), domainType: "qemu"))
        #expect(attr(qemu, "type") == "qemu")
        #expect(try nodes(qemu, "cpu").isEmpty)
        let model = try parse(DomainXML.render(fullVmSpec(), domainType: "kvm", cpuMode: .hostModel))
        #expect(attr(try one(model, "cpu"), "mode") == "host-model")
        let plain = try parse(DomainXML.render(fullVmSpec(), domainType: "kvm", cpuMode: .hypervisorDefault))
        #expect(try nodes(plain, "cpu").isEmpty)
    }

    @Test func minimalSpecHasOnlyRootDisk() throws {
        let r = try parse(DomainXML.render(minimalVmSpec(name: "tiny"), domainType: "test"))
        #expect(attr(r, "type") == "test")
        #expect(try nodes(r, "devices/disk").count == 1)
        #expect(try nodes(r, "devices/interface").isEmpty)
        #expect(try nodes(r, "devices/hostdev").isEmpty)
    }

    @Test func hostileStringsStayData() throws {
        let evil = "x'\"/><evil a='1'/>&amp;<!--"
        var spec = fullVmSpec(name: "n<a>m&e'\"")
        spec.rootDisk = DiskSpec(source: .file(path: "/tmp/\(evil)"), target: "vda")
        spec.nics = [NicSpec(mac: "52:54:00:00:00:01", attachment: .bridge(evil), vlanTag: 7)]
        spec.graphics = GraphicsSpec(kind: .vnc, listen: "0.0.0.0", passwd: evil)
        let xml = DomainXML.render(spec, domainType: "qemu'><x")
        let r = try parse(xml)
        #expect(try nodes(r, "//evil").isEmpty)
        #expect(try nodes(r, "//x").isEmpty)
        #expect(attr(r, "type") == "qemu'><x")
        #expect(try one(r, "name").stringValue == "n<a>m&e'\"")
        #expect(attr(try one(r, "devices/disk[target/@dev='vda']/source"), "file") == "/tmp/\(evil)")
        #expect(attr(try one(r, "devices/interface/source"), "bridge") == evil)
        #expect(attr(try one(r, "devices/graphics"), "passwd") == evil)
    }
}

@Suite("xmlEscape")
struct XMLEscapeTests {
    @Test func escapesMarkupCharacters() {
        #expect(DomainXML.xmlEscape("<>&'\"") == "&lt;&gt;&amp;&apos;&quot;")
        #expect(DomainXML.xmlEscape("plain-name_1.0") == "plain-name_1.0")
        #expect(DomainXML.xmlEscape("&amp;") == "&amp;amp;")
        #expect(DomainXML.xmlEscape("héllo ✓") == "héllo ✓")
    }

    @Test func whitespaceAndControlCharacters() {
        #expect(DomainXML.xmlEscape("a\tb\nc\rd") == "a&#9;b&#10;c&#13;d")
        #expect(DomainXML.xmlEscape("a\u{0}b\u{1B}c\u{FFFE}") == "a\u{FFFD}b\u{FFFD}c\u{FFFD}")
    }

    @Test func renderedHostileNameHasNoRawMarkup() {
        let xml = DomainXML.render(minimalVmSpec(name: "<script>&'\""), domainType: "test")
        #expect(xml.contains("<name>&lt;script&gt;&amp;&apos;&quot;</name>"))
        #expect(!xml.contains("<script>"))
    }
}

@Suite("VmSpec validation and coding")
struct VmSpecTests {
    @Test func fullSpecIsValid() {
        #expect(fullVmSpec().validate() == [])
        #expect(minimalVmSpec(name: "a").validate() == [])
    }

    private func fields(_ spec: VmSpec) -> Set<String> { Set(spec.validate().map(\.field)) }

    @Test func scalarLimits() {
        var s = fullVmSpec()
        s.name = "bad name"
        s.vcpus = 0
        s.memoryMiB = 63
        #expect(fields(s) == ["name", "vcpus", "memoryMiB"])
        s = fullVmSpec()
        s.vcpus = 513
        s.memoryMiB = 4_194_305
        #expect(fields(s) == ["vcpus", "memoryMiB"])
        s.vcpus = 512
        s.memoryMiB = 4_194_304
        #expect(fields(s) == [])
        s.name = String(repeating: "a", count: 64)
        #expect(fields(s) == ["name"])
        s.name = "<evil>"
        #expect(fields(s) == ["name"])
    }

    @Test func diskRules() {
        var s = fullVmSpec()
        s.rootDisk.target = "xvda1"
        s.dataDisks[0].target = "vda"  // duplicate of the root disk once root is fixed
        #expect(fields(s) == ["rootDisk.target"])
        s.rootDisk.target = "vda"
        #expect(fields(s) == ["dataDisks[0].target"])
        s = fullVmSpec()
        s.rootDisk.source = .file(path: "relative.qcow2")
        #expect(fields(s) == ["rootDisk.source.path"])
        s.rootDisk.source = .file(path: "/var/lib/../etc/shadow")
        #expect(fields(s) == ["rootDisk.source.path"])
        s.rootDisk.source = .volume(pool: "", name: "-x")
        #expect(fields(s) == ["rootDisk.source.pool", "rootDisk.source.name"])
        s.rootDisk.source = .rbd(pool: "vms", image: "img", monitors: [], authUser: nil, secretUuid: "not-a-uuid")
        #expect(fields(s) == ["rootDisk.source.monitors", "rootDisk.source.secretUuid", "rootDisk.source.authUser"])
        s.rootDisk.source = .rbd(pool: "vms", image: "img", monitors: ["mon:99999", "bad host"], authUser: "u", secretUuid: nil)
        #expect(fields(s) == ["rootDisk.source.monitors[0]", "rootDisk.source.monitors[1]", "rootDisk.source.secretUuid"])
    }

    @Test func nicRules() {
        var s = fullVmSpec()
        s.nics[0].mac = "52:54:00:aa:bb"
        s.nics[1].vlanTag = 4095
        #expect(fields(s) == ["nics[0].mac", "nics[1].vlanTag"])
        s = fullVmSpec()
        s.nics[1].mac = s.nics[0].mac.lowercased()
        s.nics[1].vlanTag = 0
        #expect(fields(s) == ["nics[1].mac", "nics[1].vlanTag"])
        s = fullVmSpec()
        s.nics[0].mac = "01:00:5e:00:00:01"  // multicast
        s.nics[1].attachment = .bridge("a-very-long-bridge-name")
        #expect(fields(s) == ["nics[0].mac", "nics[1].attachment.name"])
        s.nics = [NicSpec(mac: "52:54:00:00:00:01", attachment: .network("a b"), vlanTag: 1)]
        #expect(fields(s) == ["nics[0].attachment.name"])
    }

    @Test func graphicsRules() {
        var s = fullVmSpec()
        s.graphics = GraphicsSpec(kind: .vnc, listen: "example.com", port: 80, passwd: "123456789")
        #expect(fields(s) == ["graphics.listen", "graphics.port", "graphics.passwd"])
        s.graphics = GraphicsSpec(kind: .spice, listen: "2001:db8::1", port: 5900, passwd: "123456789")
        #expect(fields(s) == [])
        s.graphics = GraphicsSpec(kind: .spice, listen: "10.0.0.1", passwd: "with space")
        #expect(fields(s) == ["graphics.passwd"])
    }

    @Test func gpuRules() {
        var s = fullVmSpec()
        s.gpus = [GpuSpec(pciAddress: "65:00.0"), GpuSpec(pciAddress: "0000:65:20.0"), GpuSpec(pciAddress: "0000:65:00.8"),
                  GpuSpec(pciAddress: "0000:65:00.0"), GpuSpec(pciAddress: "0000:65:00.0")]
        #expect(s.validate().map(\.field) == ["gpus[0].pciAddress", "gpus[1].pciAddress", "gpus[2].pciAddress",
                                              "gpus[4].pciAddress"])
        #expect(PCIAddress("0000:65:00.0")?.description == "0000:65:00.0")
        #expect(PCIAddress("ABCD:EF:1F.7").map { [Int($0.domain), Int($0.bus), Int($0.slot), Int($0.function)] } == [0xABCD, 0xEF, 0x1F, 7])
        #expect(PCIAddress("0000:65:00.0 ") == nil)
    }

    @Test func jsonRoundTripAndShape() throws {
        let spec = fullVmSpec()
        let data = try JSONEncoder().encode(VmCreatePayload(spec: spec))
        #expect(try JSONDecoder().decode(VmCreatePayload.self, from: data).spec == spec)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let specJSON = try #require(json["spec"] as? [String: Any])
        let root = try #require(specJSON["rootDisk"] as? [String: Any])
        let source = try #require(root["source"] as? [String: Any])
        #expect(source["type"] as? String == "file")
        #expect(source["path"] as? String == "/var/lib/zedge/images/root.qcow2")
        let nic = try #require((specJSON["nics"] as? [[String: Any]])?.last)
        #expect((nic["attachment"] as? [String: Any])?["type"] as? String == "bridge")
        #expect(nic["vlanTag"] as? Int == 42)
    }

    @Test func decodingDefaults() throws {
        let json = """
        {"name":"d","uuid":"0E3B7C2A-9F1D-4E6B-8A5C-1D2E3F4A5B6C","vcpus":2,"memoryMiB":1024,
         "rootDisk":{"source":{"type":"rbd","pool":"p","image":"i","monitors":["m1"]},"target":"vda"},
         "nics":[{"mac":"52:54:00:00:00:01","attachment":{"type":"network","name":"default"}}]}
        """
        let spec = try JSONDecoder().decode(VmSpec.self, from: Data(json.utf8))
        #expect(spec.dataDisks == [] && spec.gpus == [] && spec.graphics == nil)
        #expect(spec.rootDisk.bus == .virtio && spec.rootDisk.format == .raw && !spec.rootDisk.readOnly && !spec.rootDisk.shareable)
        #expect(spec.nics[0].model == .virtio && spec.nics[0].vlanTag == nil)
        let stop = try JSONDecoder().decode(
            VmStopPayload.self, from: Data(#"{"vmUuid":"0E3B7C2A-9F1D-4E6B-8A5C-1D2E3F4A5B6C","vmName":"d"}"#.utf8))
        #expect(stop.timeoutS == 60)
        #expect(VmStopPayload(vmUuid: UUID(), vmName: "x", timeoutS: -1).validate().map(\.field) == ["timeoutS"])
        let ref = VmRefPayload(vmUuid: UUID(), vmName: "x")
        #expect(try JSONDecoder().decode(VmRefPayload.self, from: JSONEncoder().encode(ref)) == ref)
    }

    @Test func unknownDiscriminatorsFail() {
        let bad = #"{"type":"iscsi","path":"/x"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(DiskSource.self, from: Data(bad.utf8)) }
        let badNic = #"{"type":"direct","name":"eth0"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NicAttachment.self, from: Data(badNic.utf8)) }
    }

    @Test func consolePasswordIsRedacted() {
        let spec = fullVmSpec()
        let g = spec.graphics!
        #expect(!String(describing: g).contains("s3cr3t"))
        #expect(!String(reflecting: g).contains("s3cr3t"))
        #expect(!String(describing: spec).contains("s3cr3t"))
        var dumped = ""
        dump(spec, to: &dumped)
        #expect(!dumped.contains("s3cr3t"))
        #expect(String(describing: g).contains("<redacted>"))
    }

    @Test func createPayloadPrefixesFields() {
        var s = fullVmSpec()
        s.vcpus = 0
        #expect(VmCreatePayload(spec: s).validate().map(\.field) == ["spec.vcpus"])
    }
}
