import Dispatch
import Foundation
import CLibvirt
import Testing
@testable import ZedgeAgent
import ZedgeCore

// Against libvirt's built-in test driver. Its `test:///default` state is shared by every open connection of
// the process (and reset when the last one closes), and tests run in parallel, so every test uses its own
// names and UUIDs and never assumes an empty domain list (the driver starts with a domain named "test").

private let testURI = "test:///default"
/// The UUID of the test driver's predefined domain "test".
private let predefinedTestDomainUUID = UUID(uuidString: "6695eb01-f6a4-8304-79aa-97f2502e193f")!

private func uniqueSpec(_ tag: String, full: Bool = false) -> VmSpec {
    let uuid = UUID()
    let name = "zt-\(tag)-\(uuid.uuidString.prefix(8).lowercased())"
    return full ? fullVmSpec(name: name, uuid: uuid) : minimalVmSpec(name: name, uuid: uuid)
}

private extension VmSpec {
    var uuidString: String { uuid.uuidString.lowercased() }
}

@Suite("LibvirtHypervisor on test:///default")
struct LibvirtHypervisorTests {
    let hv = LibvirtHypervisor(uri: testURI)

    @Test func domainTypeDefaults() {
        #expect(hv.domainType == "test")
        // No guess from /dev/kvm: without a decision (DomainTypeSelection) it is TCG, which runs everywhere.
        #expect(LibvirtHypervisor.defaultDomainType(uri: "qemu:///system") == "qemu")
        #expect(LibvirtHypervisor.defaultDomainType(uri: "test:///default") == "test")
        #expect(LibvirtHypervisor(uri: testURI, domainType: "qemu").domainType == "qemu")
    }

    @Test func defineReportsShutOffAndIsListed() async throws {
        let spec = uniqueSpec("define")
        let vm = try await hv.define(spec)
        #expect(vm == ObservedVm(vmUuid: spec.uuidString, vmName: spec.name, state: .shutOff, disks: []))
        #expect(try await hv.state(uuid: spec.uuid) == vm)
        #expect(try await hv.list().contains(vm))
        #expect(try await hv.list(managedOnly: true).contains(vm))
        #expect(try await hv.isManaged(uuid: spec.uuid))
        try await hv.delete(uuid: spec.uuid)
    }

    @Test func defineEveryFeature() async throws {
        let spec = uniqueSpec("full", full: true)
        #expect(try await hv.define(spec).state == .shutOff)
        #expect(try await hv.start(uuid: spec.uuid).state == .running)
        try await hv.delete(uuid: spec.uuid)
        #expect(try await hv.state(uuid: spec.uuid) == nil)
    }

    /// libvirt's test driver takes an Open vSwitch NIC with a VLAN tag (it attaches nothing, so it checks the
    /// XML only; the real attachment is `OpenVSwitchGuestTests`) and keeps both elements.
    @Test func openVSwitchNicWithVlanIsAccepted() async throws {
        var spec = uniqueSpec("ovs")
        spec.nics = [NicSpec(mac: "52:54:00:0a:00:64", attachment: .bridge("br-zedge"), vlanTag: 100, virtualPort: .openvswitch)]
        #expect(try await hv.define(spec).state == .shutOff)
        #expect(try await hv.start(uuid: spec.uuid).state == .running)
        let uuid = spec.uuidString
        let xml: String = try await hv.connection.perform { conn in
            guard let dom = virDomainLookupByUUIDString(conn, uuid) else { throw LibvirtError.last("lookup") }
            defer { virDomainFree(dom) }
            guard let text = virDomainGetXMLDesc(dom, 0) else { throw LibvirtError.last("dumpxml") }
            defer { free(text) }
            return String(cString: text)
        }
        #expect(xml.contains("<source bridge='br-zedge'/>"), "\(xml)")
        #expect(xml.contains("<virtualport type='openvswitch'>") || xml.contains("<virtualport type='openvswitch'/>"), "\(xml)")
        #expect(xml.contains("<tag id='100'/>"), "\(xml)")
        try await hv.delete(uuid: spec.uuid)
    }

    @Test func kvmRenderingPassesLibvirtSchema() async throws {
        // With VIR_DOMAIN_DEFINE_VALIDATE the test driver checks the XML against libvirt's domain.rng before
        // anything else (libvirt 9.0's test driver then even accepts type kvm/qemu); anything but
        // VIR_ERR_XML_INVALID_SCHEMA (92) means the kvm/qemu rendering is schema-valid.
        for type in ["kvm", "qemu"] {
            let xml = DomainXML.render(uniqueSpec(type, full: true), domainType: type)
            let code: Int32 = try await hv.connection.perform { conn in
                if let dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE.rawValue) {
                    virDomainUndefine(dom)
                    virDomainFree(dom)
                    return 0
                }
                return LibvirtError.last().code
            }
            #expect(code != Int32(VIR_ERR_XML_INVALID_SCHEMA.rawValue), "\(type) XML fails libvirt's schema")
        }
        // And the check itself works: invalid XML is refused as such.
        let bad = "<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os><bogus/></domain>"
        let code: Int32 = try await hv.connection.perform { conn in
            if let dom = virDomainDefineXMLFlags(conn, bad, VIR_DOMAIN_DEFINE_VALIDATE.rawValue) {
                virDomainFree(dom)
                return 0
            }
            return LibvirtError.last().code
        }
        #expect(code == Int32(VIR_ERR_XML_INVALID_SCHEMA.rawValue))
    }

    @Test func defineTwiceKeepsOneDomain() async throws {
        let spec = uniqueSpec("twice")
        let first = try await hv.define(spec)
        var again = spec
        again.vcpus = 2  // a repeat delivery never redefines the domain
        let second = try await hv.define(again)
        #expect(first == second)
        #expect(try await hv.list().filter { $0.vmUuid == spec.uuidString }.count == 1)
        try await hv.delete(uuid: spec.uuid)
    }

    @Test func lifecycle() async throws {
        let spec = uniqueSpec("life")
        _ = try await hv.define(spec)
        #expect(try await hv.start(uuid: spec.uuid).state == .running)
        #expect(try await hv.start(uuid: spec.uuid).state == .running)  // already running: success
        #expect(try await hv.list().first { $0.vmUuid == spec.uuidString }?.state == .running)
        #expect(try await hv.stop(uuid: spec.uuid, timeout: .seconds(5)).state == .shutOff)
        #expect(try await hv.stop(uuid: spec.uuid, timeout: .seconds(5)).state == .shutOff)  // already off
        #expect(try await hv.restart(uuid: spec.uuid).state == .running)  // off: starts it
        #expect(try await hv.restart(uuid: spec.uuid).state == .running)  // running: reboots it
        try await hv.delete(uuid: spec.uuid)  // running: destroyed, then undefined
        #expect(try await hv.state(uuid: spec.uuid) == nil)
        #expect(try await !hv.list().contains { $0.vmUuid == spec.uuidString })
        try await hv.delete(uuid: spec.uuid)  // absent: success
    }

    @Test func stopWithZeroTimeoutStillEndsOff() async throws {
        let spec = uniqueSpec("stop0")
        _ = try await hv.define(spec)
        _ = try await hv.start(uuid: spec.uuid)
        #expect(try await hv.stop(uuid: spec.uuid, timeout: .zero).state == .shutOff)
        try await hv.delete(uuid: spec.uuid)
    }

    @Test func operationsOnAbsentDomain() async throws {
        let uuid = UUID()
        let expected = HypervisorError.notFound(uuid: uuid.uuidString.lowercased())
        await #expect(throws: expected) { try await hv.start(uuid: uuid) }
        await #expect(throws: expected) { try await hv.stop(uuid: uuid, timeout: .seconds(1)) }
        await #expect(throws: expected) { try await hv.restart(uuid: uuid) }
        #expect(try await hv.state(uuid: uuid) == nil)
        try await hv.delete(uuid: uuid)
    }

    @Test func leavesDomainsItDidNotDefineAlone() async throws {
        let before = try #require(try await hv.state(uuid: predefinedTestDomainUUID))
        #expect(before.vmName == "test")
        #expect(try await !hv.isManaged(uuid: predefinedTestDomainUUID))
        await #expect(throws: HypervisorError.self) { try await hv.delete(uuid: predefinedTestDomainUUID) }
        await #expect(throws: HypervisorError.self) { try await hv.stop(uuid: predefinedTestDomainUUID, timeout: .zero) }
        #expect(try await hv.state(uuid: predefinedTestDomainUUID) == before)
        #expect(try await !hv.list(managedOnly: true).contains { $0.vmName == "test" })
        // A spec that reuses its UUID is refused rather than "found".
        var spec = uniqueSpec("clash")
        spec.uuid = predefinedTestDomainUUID
        await #expect(throws: HypervisorError.self) { try await hv.define(spec) }
    }

    @Test func sameNameOtherUUIDIsALibvirtError() async throws {
        let spec = uniqueSpec("name")
        _ = try await hv.define(spec)
        var other = spec
        other.uuid = UUID()
        let error = await #expect(throws: LibvirtError.self) { try await hv.define(other) }
        #expect(error?.message.isEmpty == false)
        #expect(try await hv.state(uuid: other.uuid) == nil)
        try await hv.delete(uuid: spec.uuid)
    }

    @Test func invalidSpecIsRefusedBeforeLibvirt() async throws {
        var spec = uniqueSpec("invalid")
        spec.vcpus = 0
        let failure = await #expect(throws: ValidationFailure.self) { try await hv.define(spec) }
        #expect(failure?.errors.map(\.field) == ["vcpus"])
        #expect(try await hv.state(uuid: spec.uuid) == nil)
    }

    @Test func stateIsSharedAcrossOpenConnections() async throws {
        // Documented behaviour later code relies on: test:///default is one hypervisor per process while any
        // connection to it is open.
        let other = LibvirtHypervisor(uri: testURI)
        let spec = uniqueSpec("shared")
        _ = try await hv.define(spec)
        #expect(try await other.state(uuid: spec.uuid)?.vmName == spec.name)
        try await other.delete(uuid: spec.uuid)
        #expect(try await hv.state(uuid: spec.uuid) == nil)
    }

    @Test func concurrentCallsOnOneConnection() async throws {
        let specs = (0..<8).map { uniqueSpec("conc\($0)") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for spec in specs {
                group.addTask {
                    _ = try await hv.define(spec)
                    _ = try await hv.define(spec)
                    #expect(try await hv.start(uuid: spec.uuid).state == .running)
                    try await hv.delete(uuid: spec.uuid)
                }
            }
            try await group.waitForAll()
        }
        let uuids = Set(specs.map(\.uuidString))
        #expect(try await !hv.list().contains { uuids.contains($0.vmUuid) })
    }
}

@Suite("LibvirtConnection")
struct LibvirtConnectionTests {
    @Test func blockingCallsRunOnTheConnectionQueue() async throws {
        let connection = try await LibvirtConnection.open(uri: testURI)
        #expect(!connection.isOnConnectionQueue)
        let onQueue = try await connection.perform { _ in connection.isOnConnectionQueue }
        #expect(onQueue)
        await connection.close()
        // Closed connections reopen on the next call.
        #expect(try await connection.perform { _ in 42 } == 42)
    }

    @Test func badURIThrowsLibvirtError() async throws {
        let error = await #expect(throws: LibvirtError.self) {
            _ = try await LibvirtConnection.open(uri: "zedge-no-such-driver:///nowhere")
        }
        #expect(error?.message.isEmpty == false)
        #expect(error?.description.hasPrefix("libvirt error") == true)
    }
}

/// A `vm.*` task on a domain the host does not have (issue #12): a stop or delete has reached what was asked and
/// succeeds; a start or restart fails saying the domain is absent, so that the coordinator rebuilds it.
@Suite("TaskExecutor on a missing domain")
struct MissingDomainExecutorTests {
    @Test func aStopOrDeleteOfAMissingDomainSucceedsAndAStartOrRestartSaysItIsAbsent() async throws {
        let executor = TaskExecutor(hypervisor: LibvirtHypervisor(uri: testURI))
        let vm = UUID()
        let ref = try JSONValue(encoding: VmRefPayload(vmUuid: vm, vmName: "zt-missing"))
        let stop = await executor.execute(.vmStop, payload: try JSONValue(encoding: VmStopPayload(vmUuid: vm, vmName: "zt-missing", timeoutS: 1)))
        #expect(stop.outcome == .succeeded && TaskResultReport.saysDomainAbsent(stop.observed), "\(stop)")
        let delete = await executor.execute(.vmDelete, payload: ref)
        #expect(delete.outcome == .succeeded, "\(delete)")
        for kind in [TaskKind.vmStart, .vmRestart] {
            let report = await executor.execute(kind, payload: ref)
            #expect(report.outcome == .failed && TaskResultReport.saysDomainAbsent(report.observed), "\(kind): \(report)")
            #expect(report.error?.contains(vm.uuidString.lowercased()) == true)
        }
        // A domain that exists is stopped as before (its state, not an absence).
        let spec = uniqueSpec("present")
        _ = try await LibvirtHypervisor(uri: testURI).define(spec)
        defer { Task { try? await LibvirtHypervisor(uri: testURI).delete(uuid: spec.uuid) } }
        let started = await executor.execute(.vmStart, payload: try JSONValue(encoding: VmRefPayload(vmUuid: spec.uuid, vmName: spec.name)))
        #expect(started.outcome == .succeeded && !TaskResultReport.saysDomainAbsent(started.observed), "\(started)")
    }
}
