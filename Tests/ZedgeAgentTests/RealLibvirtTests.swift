import Foundation
import Testing
import ZedgeCore
@testable import ZedgeAgent

/// The whole VM lifecycle on a real QEMU process through a real libvirtd (`make test` starts one as root;
/// KVM where /dev/kvm exists, TCG otherwise).
@Suite struct RealLibvirtTests {
    static let uri = ProcessInfo.processInfo.environment["ZEDGE_TEST_LIBVIRT_URI"]

    @Test  // needs a real libvirtd (ZEDGE_TEST_LIBVIRT_URI, which make test sets); fails without one, never skips
    func lifecycleOnARealQEMUProcess() async throws {
        let hypervisor = LibvirtHypervisor(connection: LibvirtConnection(uri: try #require(Self.uri)), cpuMode: .hypervisorDefault, pollInterval: .milliseconds(200))
        let id = UUID()
        let name = "zedge-real-\(id.uuidString.prefix(8).lowercased())"
        let image = "/var/lib/libvirt/images/\(name).img"
        FileManager.default.createFile(atPath: image, contents: Data(count: 1 << 20))
        defer { try? FileManager.default.removeItem(atPath: image) }
        let spec = VmSpec(name: name, uuid: id, vcpus: 1, memoryMiB: 64,
                          rootDisk: DiskSpec(source: .file(path: image), target: "vda", format: .raw),
                          graphics: GraphicsSpec(kind: .vnc, listen: "127.0.0.1", port: nil, passwd: nil))
        do {
            #expect(try await hypervisor.define(spec).state == .shutOff)
            #expect(try await hypervisor.define(spec).state == .shutOff)  // delivered twice: still one domain
            #expect(try await hypervisor.list().filter { $0.vmName == name }.count == 1)
            #expect(try await hypervisor.start(uuid: id).state == .running)
            #expect(try await hypervisor.start(uuid: id).state == .running)  // idempotent
            // No guest OS answers the ACPI button: the stop falls back to destroy after the timeout.
            #expect(try await hypervisor.stop(uuid: id, timeout: .seconds(2)).state == .shutOff)
            #expect(try await hypervisor.restart(uuid: id).state == .running)  // a stopped one is started
            #expect(try await hypervisor.restart(uuid: id).state == .running)  // a running one is rebooted
            try await hypervisor.delete(uuid: id)
            #expect(try await hypervisor.state(uuid: id) == nil)
            try await hypervisor.delete(uuid: id)  // idempotent
        } catch {
            try? await hypervisor.delete(uuid: id)
            throw error
        }
    }
}
