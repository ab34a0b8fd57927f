import Foundation
import Testing
import ZedgeCore
import ZedgeTestSupport
@testable import ZedgeAgent

/// VM graphics that QEMU itself guards (issue #16), on a real QEMU through a real libvirtd, checked with a real VNC
/// client (vncdotool, `ZEDGE_VNCDO`: `make test` installs it with scripts/vncdotool.sh): the graphics listen on a
/// UNIX socket only, with a password nobody knows from the start; a ticket set through libvirt lets the client in
/// until it expires; a rotated password shuts the old one out.
@Suite(.serialized) struct RealLibvirtGraphicsTests {
    static let uri = ProcessInfo.processInfo.environment["ZEDGE_TEST_LIBVIRT_URI"]
    /// Captures the screen through `socket` with `password`: true when the client got in. The client runs on a
    /// thread of its own: all suites share one process, and a wait that blocks the cooperative pool (2 threads
    /// here) stalls the in-process coordinators of the suites running beside this one.
    static func capture(_ socket: String, password: String?) async throws -> Bool {
        try await offThePool { try VNCClient.capture(socket, password: password) }
    }

    @Test  // needs a real libvirtd and vncdotool; fails without them, never skips
    func theGraphicsListenOnASocketAndLetInOnlyTheCurrentTicket() async throws {
        let hypervisor = LibvirtHypervisor(connection: LibvirtConnection(uri: try #require(Self.uri)), cpuMode: .hypervisorDefault,
                                           pollInterval: .milliseconds(200))
        let id = UUID()
        let name = "zedge-gfx-\(id.uuidString.prefix(8).lowercased())"
        let image = "/var/lib/libvirt/images/\(name).img"
        FileManager.default.createFile(atPath: image, contents: Data(count: 1 << 20))
        defer { try? FileManager.default.removeItem(atPath: image) }
        // What the coordinator sends: no address, no port, no password.
        let spec = VmSpec(name: name, uuid: id, vcpus: 1, memoryMiB: 64,
                          rootDisk: DiskSpec(source: .file(path: image), target: "vda", format: .raw), graphics: GraphicsSpec(kind: .vnc))
        do {
            _ = try await hypervisor.define(spec)
            #expect(try await hypervisor.start(uuid: id).state == .running)
            let socket = try #require(try await hypervisor.graphicsSocket(uuid: id), "the graphics listen on no UNIX socket")
            #expect(FileManager.default.fileExists(atPath: socket), "\(socket)")

            // Nothing is open by default: no password, or a guessed one, is refused.
            #expect(try await !Self.capture(socket, password: nil))
            #expect(try await !Self.capture(socket, password: "password"))

            // A ticket set through libvirt lets the client in while it is valid.
            try await hypervisor.setGraphicsPassword(uuid: id, password: "Tk3tOne1", validUntil: Date().addingTimeInterval(120))
            #expect(try await Self.capture(socket, password: "Tk3tOne1"))
            // Rotated: the old ticket is refused, the new one works.
            try await hypervisor.setGraphicsPassword(uuid: id, password: "Tk3tTwo2", validUntil: nil)
            #expect(try await !Self.capture(socket, password: "Tk3tOne1"))
            #expect(try await Self.capture(socket, password: "Tk3tTwo2"))
            // Expired: a ticket valid for 2 s is refused after 4 s (QEMU checks the expiry).
            try await hypervisor.setGraphicsPassword(uuid: id, password: "Tk3tThr3", validUntil: Date().addingTimeInterval(2))
            try await Task.sleep(for: .seconds(4))
            #expect(try await !Self.capture(socket, password: "Tk3tThr3"))

            // Tickets by session: a rotation for a session whose ticket was replaced leaves the newer one working,
            // whichever of the two calls reached the host first; a rotation for the holder shuts it out.
            let tickets = GraphicsTickets(hypervisor: hypervisor)
            let (old, new) = (UUID(), UUID())
            try await tickets.set(vm: id, password: "Tk3tOld4", validUntil: nil, session: old)
            try await tickets.set(vm: id, password: "Tk3tNew5", validUntil: Date().addingTimeInterval(120), session: new)
            #expect(try await tickets.rotate(vm: id, endingSessions: [old]) == false)
            #expect(tickets.holder(of: id) == new)
            #expect(try await Self.capture(socket, password: "Tk3tNew5"))
            #expect(try await tickets.rotate(vm: id, endingSessions: [new]))
            #expect(tickets.holder(of: id) == nil)
            #expect(try await !Self.capture(socket, password: "Tk3tNew5"))
            try await hypervisor.delete(uuid: id)
        } catch {
            try? await hypervisor.delete(uuid: id)
            throw error
        }
    }
}
