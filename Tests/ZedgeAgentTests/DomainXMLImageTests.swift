import Foundation
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// A spec whose root disk is an overlay on an image, with a cloud-init seed.
func imageVmSpec(name: String, uuid: UUID = UUID(), image: ImageRef, sizeGb: Int = 1, seed: CloudInitSeed? = nil,
                 dataDisks: [DiskSpec] = []) -> VmSpec {
    VmSpec(name: name, uuid: uuid, vcpus: 1, memoryMiB: 256,
           rootDisk: DiskSpec(source: .volume(pool: VmSpec.diskPool, name: VmSpec.rootVolumeName(vmName: name)), target: "vda",
                              format: .qcow2),
           dataDisks: dataDisks,
           rootImage: RootImageSpec(image: image, sizeGb: sizeGb),
           cloudInit: seed ?? CloudInitSeed(instanceId: "i-\(uuid.uuidString.prefix(8).lowercased())", localHostname: name))
}

let sampleImage = ImageRef(imageId: UUID(uuidString: "11111111-2222-4333-8444-555555555555")!,
                           versionId: UUID(uuidString: "66666666-7777-4888-8999-aaaaaaaaaaaa")!,
                           sha256: String(repeating: "ab", count: 32), sizeBytes: 13_421_772, virtualSizeBytes: 17_825_792,
                           format: .qcow2)

@Suite("Domain XML: root image, seed and console log")
struct DomainXMLImageTests {
    static func parse(_ xml: String) throws -> XMLElement {
        try XMLTree(xmlString: xml).root
    }

    static func nodes(_ root: XMLElement, _ xpath: String) throws -> [XMLElement] {
        try root.nodes(forXPath: xpath)
    }

    static func attr(_ e: XMLElement?, _ name: String) -> String? { e?.attribute(name) }

    let files = DomainXML.HostFiles(consoleLogPath: "/var/lib/zedge-agent/console/x.log", seedISOPath: "/var/lib/zedge-agent/seeds/x.iso")

    @Test func rootVolumeSeedCdromAndConsoleLog() throws {
        let spec = imageVmSpec(name: "web-1", image: sampleImage)
        let root = try Self.parse(DomainXML.render(spec, domainType: "qemu", files: files))

        let disk = try #require(try Self.nodes(root, "devices/disk[target/@dev='vda']").first)
        #expect(Self.attr(disk, "type") == "volume")
        #expect(Self.attr(try Self.nodes(disk, "source").first, "pool") == "zedge-disks")
        #expect(Self.attr(try Self.nodes(disk, "source").first, "volume") == "web-1-root.qcow2")
        #expect(Self.attr(try Self.nodes(disk, "driver").first, "type") == "qcow2")

        let cdroms = try Self.nodes(root, "devices/disk[@device='cdrom']")
        #expect(cdroms.count == 1)
        let cdrom = try #require(cdroms.first)
        #expect(Self.attr(cdrom, "type") == "file")
        #expect(Self.attr(try Self.nodes(cdrom, "source").first, "file") == "/var/lib/zedge-agent/seeds/x.iso")
        #expect(Self.attr(try Self.nodes(cdrom, "target").first, "dev") == "hdc")
        #expect(Self.attr(try Self.nodes(cdrom, "target").first, "bus") == "ide")  // the guest kernel has no AHCI
        #expect(Self.attr(try Self.nodes(cdrom, "driver").first, "type") == "raw")
        #expect(try Self.nodes(cdrom, "readonly").count == 1)

        let log = try #require(try Self.nodes(root, "devices/serial/log").first)
        #expect(Self.attr(log, "file") == "/var/lib/zedge-agent/console/x.log")
        #expect(Self.attr(log, "append") == "on")
        #expect(try Self.nodes(root, "devices/serial/target").count == 1)
    }

    @Test func metadataRecordsTheRootImage() throws {
        let spec = imageVmSpec(name: "web-1", image: sampleImage)
        let xml = DomainXML.render(spec, domainType: "qemu", files: files)
        let root = try Self.parse(xml)
        let vm = try #require(try Self.nodes(root, "metadata/*").first)
        #expect(vm.localName == "vm")
        #expect(vm.uri == DomainXML.metadataNamespace)
        let image = try #require(vm.children.first)
        #expect(image.localName == "rootImage")
        #expect(Self.attr(image, "sha256") == sampleImage.sha256)
        #expect(Self.attr(image, "versionId") == "66666666-7777-4888-8999-aaaaaaaaaaaa")
        #expect(Self.attr(image, "imageId") == "11111111-2222-4333-8444-555555555555")
        // What virDomainGetMetadata returns (libvirt re-serialises it with double quotes) reads back.
        #expect(DomainXML.rootImageSHA256(inMetadata: "<zedge:vm xmlns:zedge=\"\(DomainXML.metadataNamespace)\">\n  <zedge:rootImage sha256=\"\(sampleImage.sha256)\" imageId=\"x\"/>\n</zedge:vm>") == sampleImage.sha256)
        #expect(DomainXML.rootImageSHA256(inMetadata: "<zedge:vm xmlns:zedge='\(DomainXML.metadataNamespace)'/>") == nil)
        #expect(DomainXML.rootImageSHA256(inMetadata: "<zedge:vm><zedge:rootImage sha256='nothex'/></zedge:vm>") == nil)
        // Exactly 64 hex digits, then the closing quote: a longer value is not a SHA-256 (found by fuzz-domain-xml).
        #expect(DomainXML.rootImageSHA256(inMetadata: "<zedge:vm><zedge:rootImage sha256='\(sampleImage.sha256)/seed.iso'/></zedge:vm>") == nil)
        #expect(DomainXML.rootImageSHA256(inMetadata: "<zedge:vm><zedge:rootImage sha256=\"\(sampleImage.sha256)0\"/></zedge:vm>") == nil)
        #expect(DomainXML.rootImageSHA256(inMetadata: "<zedge:vm><zedge:rootImage sha256='\(sampleImage.sha256)'/></zedge:vm>") == sampleImage.sha256)
    }

    @Test func withoutFilesOrSeedNothingExtraIsRendered() throws {
        var spec = imageVmSpec(name: "web-1", image: sampleImage)
        spec.cloudInit = nil
        let root = try Self.parse(DomainXML.render(spec, domainType: "qemu", files: .init(consoleLogPath: nil, seedISOPath: nil)))
        #expect(try Self.nodes(root, "devices/disk[@device='cdrom']").isEmpty)
        #expect(try Self.nodes(root, "devices/serial/log").isEmpty)
        // LibvirtHypervisor attaches a seed only for a spec with cloudInit.
        let hypervisor = LibvirtHypervisor(uri: "test:///default", layout: AgentLayout(stateDirectory: "/srv/zedge/"))
        #expect(hypervisor.hostFiles(for: spec) == .init(consoleLogPath: "/srv/zedge/console/\(spec.uuid.uuidString.lowercased()).log"))
        spec.cloudInit = CloudInitSeed(instanceId: "i-1", localHostname: "web-1")
        #expect(hypervisor.hostFiles(for: spec).seedISOPath == "/srv/zedge/seeds/\(spec.uuid.uuidString.lowercased()).iso")
    }

    @Test func theSeedTakesAFreeIDETarget() throws {
        let spec = imageVmSpec(name: "web-1", image: sampleImage, dataDisks: [
            DiskSpec(source: .file(path: "/data/a.img"), target: "hdc", bus: .ide, format: .raw),
            DiskSpec(source: .file(path: "/data/b.img"), target: "hdd", bus: .ide, format: .raw),
        ])
        #expect(DomainXML.seedTarget(for: spec) == "hdb")
        let root = try Self.parse(DomainXML.render(spec, domainType: "qemu", files: files))
        #expect(Self.attr(try Self.nodes(root, "devices/disk[@device='cdrom']/target").first, "dev") == "hdb")
        let full = imageVmSpec(name: "web-1", image: sampleImage, dataDisks: DomainXML.seedTargets.map {
            DiskSpec(source: .file(path: "/data/\($0).img"), target: $0, bus: .ide, format: .raw)
        })
        #expect(DomainXML.seedTarget(for: full) == nil)
    }

    @Test func hostilePathsStayData() throws {
        let evil = "/tmp/x'/><disk type='file' device='disk'><source file='/etc/shadow'/></disk><y a='"
        let root = try Self.parse(DomainXML.render(imageVmSpec(name: "web-1", image: sampleImage), domainType: "qemu",
                                                   files: .init(consoleLogPath: evil, seedISOPath: evil)))
        #expect(try Self.nodes(root, "devices/disk").count == 2)  // root + seed, nothing injected
        #expect(Self.attr(try Self.nodes(root, "devices/serial/log").first, "file") == evil)
        #expect(Self.attr(try Self.nodes(root, "devices/disk[@device='cdrom']/source").first, "file") == evil)
    }
}

/// A relative state dir (e.g. `make run`'s `.zedge-dev/agent`) becomes absolute: libvirt refuses relative paths
/// for the seed and the console log, and every instance failed schema validation.
@Suite struct AgentLayoutTests {
    @Test func aRelativeStateDirIsMadeAbsolute() {
        let layout = AgentLayout(stateDirectory: ".zedge-dev/agent/")
        #expect(layout.stateDirectory == FileManager.default.currentDirectoryPath + "/.zedge-dev/agent")
        #expect(layout.seedsDirectory.hasPrefix("/") && layout.consoleDirectory.hasPrefix("/"))
        #expect(AgentLayout(stateDirectory: "/var/lib/zedge-agent/").stateDirectory == "/var/lib/zedge-agent")
    }
}
