import CLibvirt
import Foundation
import Testing
import ZedgeCore
@testable import ZedgeAgent

/// The parts of the RBD disk work that need no Ceph: domain disk XML both ways, secret redaction in the journal
/// and in errors, payload validation, observed disks on libvirt's test driver, task ordering keys. The real
/// thing (secret, pool, images, hot-plug into a running guest) is `RealCephTests`.
@Suite("RBD disks without Ceph")
struct RbdDiskTests {
    static let key = "AQBxkFxmAAAAABAAq1cVOMT6y7N1QEVhyv8bWQ=="
    static let cluster = RbdCluster(storagePoolId: UUID(uuidString: "0f3c9a1e-5b7d-4e2a-9c11-22aa33bb44cc")!,
                                    monitors: ["127.0.0.1:6789", "[2001:db8::3]:3300", "mon3.example.com"],
                                    rbdPool: "private-data-disks", cephUser: "zedge", cephKey: key)

    // MARK: Domain disk XML

    @Test func anAttachableDiskCarriesSerialReadonlyShareableAndNoCache() throws {
        let disk = DiskSpec(source: Self.cluster.source(image: "pdd-1"), target: "vdc", readOnly: true, shareable: true,
                            serial: "0123456789abcdef0123")
        let xml = DomainXML.renderDisk(disk)
        let parsed = try #require(try DomainDisk.parse(domainXML: "<domain><devices>\(xml)</devices></domain>").first)
        #expect(parsed.type == "network" && parsed.device == "disk")
        #expect(parsed.sourceProtocol == "rbd" && parsed.sourceName == "private-data-disks/pdd-1")
        #expect(parsed.target == "vdc" && parsed.bus == "virtio")
        #expect(parsed.readOnly && parsed.shareable)
        #expect(parsed.serial == "0123456789abcdef0123")
        #expect(xml.contains("<driver name='qemu' type='raw' cache='none'/>"), "\(xml)")
        #expect(xml.contains("<secret type='ceph' uuid='0f3c9a1e-5b7d-4e2a-9c11-22aa33bb44cc'/>"), "\(xml)")
        #expect(xml.contains("<host name='2001:db8::3' port='3300'/>"), "\(xml)")
        #expect(!xml.contains(Self.key))
        #expect(parsed.observed == ObservedDisk(rbdPool: "private-data-disks", image: "pdd-1", target: "vdc", readOnly: true, shareable: true))

        // Not shareable: the default cache, no <shareable/>, no <readonly/>, no <serial> when there is none.
        let plain = DomainXML.renderDisk(DiskSpec(source: Self.cluster.source(image: "pdd-2"), target: "vdb"))
        #expect(!plain.contains("cache=") && !plain.contains("shareable") && !plain.contains("readonly") && !plain.contains("serial"))
    }

    @Test func domainsRenderACPIForHotplug() throws {
        let xml = DomainXML.render(minimalVmSpec(name: "acpi"), domainType: "qemu")
        #expect(xml.contains("<features>") && xml.contains("<acpi/>"))
    }

    @Test func domainDisksAreParsedWhateverTheQuotingAndOrder() throws {
        let xml = """
        <domain type="kvm"><name>x</name><devices>
          <disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/a &amp; b.qcow2"/>
            <target dev="vda" bus="virtio"/></disk>
          <disk device='cdrom' type='file'><target bus='ide' dev='hdc'/><readonly/></disk>
          <disk type='network' device='disk'>
            <auth username='zedge'><secret type='ceph' uuid='u'/></auth>
            <source protocol='rbd' name='pool-a/img&#45;1'><host name='10.0.0.1' port='6789'/></source>
            <target dev='vdd' bus='virtio'/><serial>s-1</serial><shareable/><alias name='virtio-disk3'/>
          </disk>
          <disk type='network' device='disk'><source protocol='nbd' name='x'/><target dev='vde' bus='virtio'/></disk>
        </devices></domain>
        """
        let disks = try DomainDisk.parse(domainXML: xml)
        #expect(disks.map(\.target) == ["vda", "hdc", "vdd", "vde"])
        #expect(disks[1].readOnly && disks[1].device == "cdrom")
        #expect(disks[2].isRbd(pool: "pool-a", image: "img-1"))
        #expect(disks[2].serial == "s-1" && disks[2].shareable && !disks[2].readOnly)
        #expect(disks[2].xml.contains("virtio-disk3"))
        #expect(disks.compactMap(\.observed) == [ObservedDisk(rbdPool: "pool-a", image: "img-1", target: "vdd", shareable: true)])
        #expect(DomainDisk.firstFreeVirtioTarget(besides: disks) == "vdb")
        #expect(throws: (any Error).self) { try DomainDisk.parse(domainXML: "<pool type='rbd'/>") }
        #expect(throws: (any Error).self) { try DomainDisk.parse(domainXML: "no XML at all") }
    }

    @Test func targetsRunOutAfterTwoLetters() {
        let all = (UInt8(ascii: "a")...UInt8(ascii: "z")).map { "vd" + String(UnicodeScalar($0)) }
        let used = all.map { DomainDisk(type: "file", device: "disk", target: $0) }
        #expect(DomainDisk.firstFreeVirtioTarget(besides: used) == "vdaa")
    }

    @Test func rbdPoolXMLNamesMonitorsUserAndSecret() throws {
        let xml = RbdStorage.poolXML(Self.cluster)
        #expect(!xml.contains(Self.key))
        #expect(xml.contains("<name>zedge-rbd-0f3c9a1e-5b7d-4e2a-9c11-22aa33bb44cc</name>"))
        #expect(xml.contains("<name>private-data-disks</name>"))
        #expect(xml.contains("<host name='127.0.0.1' port='6789'/>") && xml.contains("<host name='mon3.example.com'/>"))
        #expect(xml.contains("<auth type='ceph' username='zedge'>") && xml.contains("<secret uuid='0f3c9a1e-5b7d-4e2a-9c11-22aa33bb44cc'/>"))
    }

    // MARK: Secrets

    @Test func payloadRedactionReplacesEveryCephKey() throws {
        let attach = DiskAttachPayload(cluster: Self.cluster, image: "pdd-1", vmUuid: UUID(), serial: "s", readOnly: false, shareable: false)
        var other = Self.cluster
        other.cephKey = "AQDifferentKeyAAAAAAAAAAAAAAAAAAAAAAAAA=="
        var noKey = Self.cluster
        noKey.cephKey = nil
        let create = VmCreatePayload(spec: minimalVmSpec(name: "r"), rbdClusters: [Self.cluster, other, noKey])
        for payload in [try JSONValue(encoding: attach), try JSONValue(encoding: create)] {
            #expect(!PayloadRedaction.secrets(in: payload).isEmpty)
            let redacted = PayloadRedaction.redacted(payload)
            let text = String(decoding: try ZedgeJSON.encoder().encode(redacted), as: UTF8.self)
            #expect(!text.contains(Self.key) && !text.contains(other.cephKey!), "\(text)")
            #expect(PayloadRedaction.secrets(in: redacted).isEmpty)
        }
        let clusters = try #require(PayloadRedaction.redacted(try JSONValue(encoding: create))["rbdClusters"]?.arrayValue)
        #expect(clusters.map { $0["cephKey"] } == [.string("<redacted>"), .string("<redacted>"), nil])
        #expect(PayloadRedaction.redacted(try JSONValue(encoding: attach))["cluster"]?["cephKey"] == .string("<redacted>"))
        // Everything else stays as it was.
        var expected = try JSONValue(encoding: attach).objectValue!
        expected["cluster"] = PayloadRedaction.redacted(expected["cluster"]!)
        #expect(PayloadRedaction.redacted(try JSONValue(encoding: attach)) == .object(expected))
        #expect(PayloadRedaction.scrub("key \(Self.key) leaked", secretsOf: try JSONValue(encoding: attach)) == "key <redacted> leaked")
    }

    @Test func theJournalNeverStoresTheKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-redact-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("journal.db").path
        let journal = try TaskJournal(path: path)
        let payloads: [(TaskKind, JSONValue)] = [
            (.diskCreate, try JSONValue(encoding: DiskCreatePayload(cluster: Self.cluster, image: "pdd-1", sizeGb: 1))),
            (.vmCreate, try JSONValue(encoding: VmCreatePayload(spec: minimalVmSpec(name: "j"), rbdClusters: [Self.cluster]))),
        ]
        for (kind, payload) in payloads {
            let entry = try journal.received(id: UUID(), kind: kind, payload: payload, attempt: 1)
            #expect(entry.payload == PayloadRedaction.redacted(payload))
            // The redacted payload still decodes; its key is "<redacted>", which the executor would refuse as
            // not base64 — the coordinator's new delivery carries the key again.
            if kind == .diskCreate {
                #expect(try entry.payload.decode(as: DiskCreatePayload.self).cluster.cephKey == "<redacted>")
            }
        }
        try journal.close()
        // Not in the database file, its WAL, or anywhere under the folder.
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let bytes = try #require(FileManager.default.contents(atPath: dir.appendingPathComponent(file).path))
            #expect(bytes.range(of: Data(Self.key.utf8)) == nil, "\(file) holds the key")
        }
    }

    // MARK: Executor

    @Test func diskTasksValidateTheirPayloads() async throws {
        let executor = TaskExecutor(hypervisor: LibvirtHypervisor(uri: "test:///default"),
                                    rbd: RbdStorage(connection: LibvirtConnection(uri: "test:///default")))
        var bad = Self.cluster
        bad.monitors = []
        bad.cephKey = "not base64!"
        let cases: [(TaskKind, JSONValue, [String])] = [
            (.diskCreate, try JSONValue(encoding: DiskCreatePayload(cluster: bad, image: "../x", sizeGb: 0)),
             ["cluster.monitors", "cluster.cephKey", "image", "sizeGb"]),
            (.diskResize, try JSONValue(encoding: DiskResizePayload(cluster: Self.cluster, image: "pdd", sizeGb: 1_000_000)), ["sizeGb"]),
            (.diskDelete, try JSONValue(encoding: DiskDeletePayload(cluster: bad, image: "pdd")), ["cluster.monitors"]),
            (.diskAttach, try JSONValue(encoding: DiskAttachPayload(cluster: Self.cluster, image: "pdd", vmUuid: UUID(),
                                                                    serial: "far too long for virtio-blk", readOnly: false, shareable: false)),
             ["serial"]),
            (.diskDetach, try JSONValue(encoding: DiskDetachPayload(cluster: Self.cluster, image: "a b", vmUuid: UUID())), ["image"]),
            (.vmCreate, try JSONValue(encoding: VmCreatePayload(spec: minimalVmSpec(name: "v"), rbdClusters: [bad])),
             ["rbdClusters[0].monitors", "rbdClusters[0].cephKey"]),
        ]
        for (kind, payload, fields) in cases {
            let report = await executor.execute(kind, payload: payload)
            #expect(report.outcome == .failed)
            let error = report.error ?? ""
            #expect(error.hasPrefix("invalid payload: "), "\(kind): \(error)")
            for field in fields { #expect(error.contains(field), "\(kind): \(error) does not name \(field)") }
            #expect(!error.contains(Self.key) && !error.contains("not base64!"))
        }
        // A payload that is not one at all.
        #expect(await executor.execute(.diskAttach, payload: ["image": 3]).outcome == .failed)
    }

    @Test func withoutRbdStorageTheDiskKindsAreNotSupported() async throws {
        let executor = TaskExecutor(hypervisor: nil)
        for kind in [TaskKind.diskCreate, .diskResize, .diskDelete, .diskAttach, .diskDetach] {
            let report = await executor.execute(kind, payload: try JSONValue(encoding: DiskDeletePayload(cluster: Self.cluster, image: "x")))
            #expect(report.error == "\(kind.rawValue) is not supported by this agent version")
        }
        let create = VmCreatePayload(spec: minimalVmSpec(name: "no-rbd"), rbdClusters: [Self.cluster])
        let report = await TaskExecutor(hypervisor: LibvirtHypervisor(uri: "test:///default")).execute(.vmCreate, payload: try JSONValue(encoding: create))
        #expect(report.error == "this agent has no RBD storage for rbdClusters")
    }

    /// A detach from a domain that is not there (deleted meanwhile, or the task repeated) is success.
    @Test func detachFromAnAbsentDomainSucceeds() async throws {
        let executor = TaskExecutor(hypervisor: LibvirtHypervisor(uri: "test:///default"))
        let report = await executor.execute(.diskDetach, payload: try JSONValue(encoding: DiskDetachPayload(cluster: Self.cluster, image: "pdd", vmUuid: UUID())))
        #expect(report.outcome == .succeeded, "\(report.error ?? "")")
        #expect(report.observed == ["detached": true])
    }

    // MARK: Observed disks

    /// Every ObservedVm carries the domain's RBD disks (the test driver keeps the definition as given).
    @Test func observedVmsCarryTheirRbdDisks() async throws {
        let hv = LibvirtHypervisor(uri: "test:///default")
        let uuid = UUID()
        let spec = fullVmSpec(name: "zt-disks-\(uuid.uuidString.prefix(8).lowercased())", uuid: uuid)
        let expected = [ObservedDisk(rbdPool: "vms", image: "disk-2", target: "vdc", readOnly: true, shareable: true)]
        #expect(try await hv.define(spec).disks == expected)
        #expect(try await hv.state(uuid: uuid)?.disks == expected)
        #expect(try await hv.start(uuid: uuid).disks == expected)
        #expect(try await hv.list().first { $0.vmUuid == uuid.uuidString.lowercased() }?.disks == expected)
        try await hv.delete(uuid: uuid)
        let plain = minimalVmSpec(name: "zt-nodisks-\(uuid.uuidString.prefix(8).lowercased())")
        #expect(try await hv.define(plain).disks == [])
        try await hv.delete(uuid: plain.uuid)
    }

    // MARK: Ordering

    @Test func diskTasksAreOrderedPerVmAndPerImage() throws {
        let vm = UUID()
        func task(_ kind: TaskKind, _ payload: some Encodable) throws -> TaskAssignment {
            TaskAssignment(id: UUID(), kind: kind, payload: try JSONValue(encoding: payload), attempt: 1, leaseExpiresAt: Date())
        }
        let vmKey = "vm:" + vm.uuidString.lowercased()
        #expect(TaskScheduler.key(try task(.diskAttach, DiskAttachPayload(cluster: Self.cluster, image: "i", vmUuid: vm, serial: "s",
                                                                       readOnly: false, shareable: false))) == vmKey)
        #expect(TaskScheduler.key(try task(.diskDetach, DiskDetachPayload(cluster: Self.cluster, image: "i", vmUuid: vm))) == vmKey)
        let diskKey = "disk:0f3c9a1e-5b7d-4e2a-9c11-22aa33bb44cc/i"
        #expect(TaskScheduler.key(try task(.diskCreate, DiskCreatePayload(cluster: Self.cluster, image: "i", sizeGb: 1))) == diskKey)
        #expect(TaskScheduler.key(try task(.diskResize, DiskResizePayload(cluster: Self.cluster, image: "i", sizeGb: 2))) == diskKey)
        #expect(TaskScheduler.key(try task(.diskDelete, DiskDeletePayload(cluster: Self.cluster, image: "i"))) == diskKey)
    }
}
