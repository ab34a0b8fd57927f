import Foundation
import Logging
import SQLKit
import Testing
import ZedgeTestSupport
import ZedgeCore
import ZedgeTransport
@testable import ZedgeAgent
@testable import ZedgeCoordinator

/// Consoles end to end (issue #16) on a real libvirtd with QEMU, a real `zedge-agent` process and the test guest:
/// a user's WebSocket reaches the guest's serial root shell, and its VNC server's greeting, through the agent's
/// own dial-out connection; no connection to the host is made by anyone but the agent.
///
/// Needs `ZEDGE_TEST_LIBVIRT_URI` and `ZEDGE_TEST_GUEST_IMAGE` (`make test` provides both); fails without them.
@Suite("Consoles on a real host", .serialized)
struct ConsoleEndToEndTests {
    typealias Boot = BootEndToEndTests
    typealias Tunnel = ConsoleTunnelTests

    static func environment(_ c: TestCoordinator, token: String) throws -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = FileManager.default.temporaryDirectory.appendingPathComponent("console-home-\(UUID().uuidString)").path
        env["ZEDGE_URL"] = c.baseURL
        env["ZEDGE_TOKEN"] = token
        env["ZEDGE_CA_HASH"] = try #require(c.started.caFingerprint)
        return env
    }

    /// `zedgectl ARGS` as the user; its standard output, trimmed. Fails unless it exits 0.
    static func zedgectl(_ c: TestCoordinator, token: String, _ arguments: [String]) async throws -> String {
        let environment = try environment(c, token: token)
        return try await Tunnel.blocking {
            let process = SpawnedProcess()
            process.executableURL = ProcessRunner.executable("zedgectl")
            process.arguments = arguments
            process.environment = environment
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestFailure("zedgectl \(arguments) exited \(process.terminationStatus)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// `zedgectl instance console NAME` with `input` on its standard input, which stays open until its output
    /// holds `until` (or 60 s pass); then closing it ends the session.
    static func zedgectlConsole(_ c: TestCoordinator, token: String, instance: String, input: String, until: String) async throws
        -> (status: Int32, output: String, errors: String)
    {
        let environment = try environment(c, token: token)
        return try await Tunnel.blocking {
            let process = SpawnedProcess()
            process.executableURL = ProcessRunner.executable("zedgectl")
            process.arguments = ["instance", "console", instance]
            process.environment = environment
            let stdin = Pipe(), out = Pipe(), err = Pipe()
            process.standardInput = stdin
            process.standardOutput = out
            process.standardError = err
            try process.run()
            stdin.fileHandleForWriting.write(Data(input.utf8))
            var output = Data()
            let deadline = Date().addingTimeInterval(60)
            let fd = out.fileHandleForReading.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline, !String(decoding: output, as: UTF8.self).contains(until) {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 200) > 0 else { continue }
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                output.append(contentsOf: buffer[0..<count])
            }
            try stdin.fileHandleForWriting.close()
            output.append(out.fileHandleForReading.readDataToEndOfFile())
            let errors = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self))
        }
    }

    static func token(of grant: ConsoleGrant) -> String { Tunnel.token(of: grant) }

    /// Runs Tests/Scripts/console_page.py with the python of vncdotool's virtualenv (Pillow, websocket-client);
    /// its JSON answer.
    static func consolePage(_ arguments: [String]) async throws -> [String: Any] {
        let vncdo = try #require(VNCClient.path, "needs vncdotool's virtualenv: ZEDGE_VNCDO=$(scripts/vncdotool.sh)")
        let python = URL(fileURLWithPath: vncdo).deletingLastPathComponent().appendingPathComponent("python").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/console_page.py").path
        let output = try await Tunnel.blocking { () -> Data in
            let process = SpawnedProcess()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script] + arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        return try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any], "\(String(decoding: output, as: UTF8.self))")
    }

    @Test func aUserTypesIntoTheGuestsSerialShellAndReachesItsVncServer() async throws {
        let uri = try #require(Boot.libvirtURI, "needs a real libvirtd: run under scripts/with-libvirtd.sh (make test does)")
        let imagePath = try #require(Boot.guestImage, "needs the test guest image: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))

        let logs = LogCapture()
        // A minute for the agent's answers (opening a console, setting a ticket): a loaded CI machine has taken more
        // than the default 10 s for an agent call's round trip.
        try await TestCoordinator.with(.sqlite, configure: { Boot.configure(&$0); $0.agentCallTimeoutSeconds = 60 }, logs: logs) { c in
            let admin = try await c.adminToken()
            let pem = try #require(c.started.caCertificatePEM)
            let (imageId, _) = try await Boot.uploadImage(c, admin, bytes, name: "console-guest")
            let (machine, stateDir) = try await Boot.registerHost(c, admin, name: "console")
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            let agent = try Boot.AgentProcess(stateDir: stateDir, libvirtURI: uri, arguments: ["--domain-type", "qemu"])
            var beat = false
            try await eventually("the agent's heartbeat is stored", within: 120) {
                beat = try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
                return beat
            }
            guard beat else {
                Issue.record("the agent's log: \(await agent.log().suffix(6000))")
                return
            }
            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "console-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "baseImageId": imageId.uuidString,
            ])
            #expect(template.status == 201, "\(template.text)")
            let tenant = try await c.createTenant("console-tenant", token: admin)
            let user = try await c.createUser("console-user", role: .user, tenant: tenant.id, token: admin)
            let created = try await c.client.post("/api/v1/instances", token: user.token, [
                "name": "console-1", "templateId": try template.decode(Template.self).id.uuidString,
            ])
            #expect(created.status == 202, "\(created.text)")
            let instance = try created.decode(InstanceService.Accepted.self).instance.instance
            try await eventually("the guest prints its ZEDGE-GUEST line", within: 300) {
                let response = try await c.client.get("/api/v1/instances/\(instance.id)/console-log", token: user.token)
                guard response.status == 200 else { return false }
                return try response.decode(ConsoleLogOutput.self).lines.contains { $0.contains("ZEDGE-GUEST instance-id=") }
            }

            // The serial console: keys typed into the WebSocket reach the guest's root shell, and its answer comes back.
            func serialSession(_ marker: String) async throws {
                let response = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: user.token, ["type": "serial"])
                #expect(response.status == 200, "\(response.text)")
                let grant = try response.decode(ConsoleGrant.self)
                let socket = try await Tunnel.blocking { try CurlWebSocket.connect(url: grant.websocketUrl, trust: .caPEM(pem)) }
                let terminal = try SocketPairStream()
                let relay = Tunnel.relayInBackground(socket, terminal)
                // The shell prints its prompt again on an empty line; then a command whose answer the guest computes.
                terminal.send("\r")
                terminal.send("echo \(marker)-$((6*7))\r")
                let seen = await terminal.receive(within: 60) { $0.contains("\(marker)-42") }
                socket.cancel()
                let end = await relay.value
                // How the tunnel ended says which side failed when the answer did not come (a close from the
                // coordinator carries 4000 + the status and why).
                #expect(seen.contains("\(marker)-42"), "the guest's shell did not answer through the tunnel (\(end)): \(seen.suffix(400))")
                #expect(end == .cancelled)
            }
            try await serialSession("zedge")
            // Closing the session let the console go: the next one gets it at once (and the newest would win anyway).
            try await serialSession("again")

            // zedgectl's serial console (the real binary, its standard input a pipe): the same shell answers.
            let ctl = try await Self.zedgectlConsole(c, token: user.token, instance: "console-1", input: "\recho ctl-$((6*7))\r",
                                                     until: "ctl-42")
            #expect(ctl.output.contains("ctl-42"), "\(ctl.output.suffix(400))")
            #expect(ctl.status == 0 && ctl.errors.contains("Ctrl-] ends the session"), "\(ctl.status): \(ctl.errors)")
            // --type vnc prints the browser URL, whose page loads noVNC.
            let vncURL = try await Self.zedgectl(c, token: user.token, ["instance", "console", "console-1", "--type", "vnc"])
            #expect(vncURL.hasPrefix("\(c.baseURL)/console/zct_"), "\(vncURL)")

            // The graphics: the tunnel reaches QEMU's VNC server, which greets with its RFB version (RFC 6143 §7.1.1).
            let vnc = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: user.token, ["type": "vnc"])
                .decode(ConsoleGrant.self)
            let socket = try await Tunnel.blocking { try CurlWebSocket.connect(url: vnc.websocketUrl, trust: .caPEM(pem)) }
            let viewer = try SocketPairStream()
            let relay = Tunnel.relayInBackground(socket, viewer)
            let greeting = await viewer.receive(within: 60) { $0.count >= 12 }
            #expect(greeting.hasPrefix("RFB 003.00"), "\(greeting.debugDescription)")
            socket.cancel()
            #expect(await relay.value == .cancelled)

            // The browser page in headless Chromium (Debian's chromium, noVNC from Debian's novnc): it connects, and the
            // framebuffer it shows is the one a VNC client straight on the host's socket captures at the same moment
            // (the guest's firmware and bootloader text: its console is the serial port).
            let page = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: user.token, ["type": "vnc"])
                .decode(ConsoleGrant.self)
            let hypervisor = LibvirtHypervisor(connection: LibvirtConnection(uri: uri), cpuMode: .hypervisorDefault)
            let guestVM = try await c.client.get("/api/v1/virtual-machines/\(try #require(instance.virtualMachineId))", token: admin)
                .decode(VirtualMachine.self)
            let guestUuid = try #require(guestVM.vmUuid.flatMap(UUID.init(uuidString:)))
            let screenSocket = try #require(try await hypervisor.graphicsSocket(uuid: guestUuid))
            try await hypervisor.setGraphicsPassword(uuid: guestUuid, password: "Shot1234", validUntil: Date().addingTimeInterval(120))
            let shown = FileManager.default.temporaryDirectory.appendingPathComponent("page-\(UUID().uuidString).png").path
            let direct = FileManager.default.temporaryDirectory.appendingPathComponent("direct-\(UUID().uuidString).png").path
            defer { try? FileManager.default.removeItem(atPath: shown); try? FileManager.default.removeItem(atPath: direct) }
            let opened = try await Self.consolePage(["open", page.url, shown])
            #expect(opened["state"] as? String == "connected", "\(opened)")
            #expect(try await Tunnel.blocking { try VNCClient.capture(screenSocket, password: "Shot1234", to: direct) })
            let compared = try await Self.consolePage(["compare", shown, direct])
            let differing = try #require(compared["differing"] as? Double, "\(compared)")
            #expect(differing < 0.02, "the page's framebuffer differs from the host's in \(differing * 100) % of its pixels: \(compared)")
            #expect((compared["width"] as? Int ?? 0) >= 640, "\(compared)")
            #expect((compared["lit"] as? Double ?? 0) > 0.001, "the host's screen is blank, so the comparison says nothing: \(compared)")
            print("console page: framebuffer \(compared["width"] ?? "?")x\(compared["height"] ?? "?"), lit \(compared["lit"] ?? "?"), differing \(differing)")
            // The page's WebSocket spent the token.
            #expect(try await c.client.get("/console/\(Self.token(of: page))", token: nil).status == 403)

            // A CloudBox bound to the instance: its ticket is the VM's graphics password, QEMU lets a real VNC client
            // in with it through the box's tunnel once, and then no more; unbinding closes the tunnel.
            let box = try await c.client.post("/api/v1/cloud-boxes", token: admin, [
                "serialNumber": "CB-\(UUID().uuidString.prefix(8))", "edgeDataCenterId": try #require(machine.edgeDataCenterId).uuidString,
            ]).decode(CloudBox.self)
            let bind = try await c.client.post("/api/v1/cloud-boxes/\(box.id)/actions/bind", token: admin, [
                "instanceId": instance.id.uuidString, "expiresAt": ZedgeJSON.formatDate(Date().addingTimeInterval(600)),
            ])
            #expect(bind.status == 202, "\(bind.text)")
            // What the box's agent would get (no box agent runs here): the ticket and the tunnel's path.
            let payload = try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: Logger(label: "test")) { database in
                try await database.sql.raw("SELECT payload FROM agent_tasks WHERE kind = 'cloudbox.bind'").all()
                    .map { try $0.decode(column: "payload", as: String.self) }
            }
            let bound = try ZedgeJSON.decoder().decode(CloudBoxBindPayload.self, from: Data(try #require(payload.first).utf8))
            let vmRow = try await c.client.get("/api/v1/virtual-machines/\(try #require(instance.virtualMachineId))", token: admin)
                .decode(VirtualMachine.self)
            let vmUuid = try #require(vmRow.vmUuid.flatMap(UUID.init(uuidString:)))
            let hostSocket = try #require(try await LibvirtHypervisor(connection: LibvirtConnection(uri: uri), cpuMode: .hypervisorDefault)
                .graphicsSocket(uuid: vmUuid))
            // The box's side: a local socket for the VNC client, relayed to the tunnel's WebSocket.
            let bridgePath = "/tmp/zedge-box-\(UUID().uuidString.prefix(8)).sock"
            let bridge = try UnixSocketBridge(path: bridgePath)
            defer { bridge.close() }
            let boxURL = "wss://127.0.0.1:\(c.started.port)" + bound.console.websocketPath
            let boxRelay = Task { try await Tunnel.blocking { () -> CurlWebSocket.End in
                let client = try bridge.accept()
                let socket = try CurlWebSocket.connect(url: boxURL, trust: .caPEM(pem))
                return socket.relay(client)
            } }
            #expect(try await Tunnel.blocking { try VNCClient.capture(bridgePath, password: bound.ticket) },
                    "the box's VNC client did not get in with its ticket through the tunnel")
            // The ticket worked once: the agent rotated the password when the client got in.
            try await eventually("the used ticket is refused straight at QEMU", within: 30) {
                try await !Tunnel.blocking { try VNCClient.capture(hostSocket, password: bound.ticket, timeout: 10) }
            }
            _ = await boxRelay.result
            // Bound again with a new ticket, then unbound: the new ticket no longer works either.
            let again = try await c.client.post("/api/v1/cloud-boxes/\(box.id)/actions/bind", token: admin, [
                "instanceId": instance.id.uuidString, "expiresAt": ZedgeJSON.formatDate(Date().addingTimeInterval(600)),
            ])
            #expect(again.status == 202, "\(again.text)")
            let rebound = try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: Logger(label: "test")) { database in
                try await database.sql.raw("SELECT payload FROM agent_tasks WHERE kind = 'cloudbox.bind' ORDER BY created_at DESC").all()
                    .map { try $0.decode(column: "payload", as: String.self) }
            }
            let second = try ZedgeJSON.decoder().decode(CloudBoxBindPayload.self, from: Data(try #require(rebound.first).utf8))
            #expect(second.ticket != bound.ticket)
            #expect(try await Tunnel.blocking { try VNCClient.capture(hostSocket, password: second.ticket) }, "the new ticket works at QEMU")
            // A box session in progress (the RFB greeting has come through its tunnel) ends with the unbind.
            let inProgress = try await Tunnel.blocking {
                try CurlWebSocket.connect(url: "wss://127.0.0.1:\(c.started.port)" + second.console.websocketPath, trust: .caPEM(pem))
            }
            let boxScreen = try SocketPairStream()
            let boxSession = Tunnel.relayInBackground(inProgress, boxScreen)
            #expect(await boxScreen.receive(within: 60) { $0.count >= 12 }.hasPrefix("RFB 003.00"))
            let unbound = ContinuousClock.now
            #expect(try await c.client.post("/api/v1/cloud-boxes/\(box.id)/actions/unbind", token: admin, [:]).status == 202)
            #expect(await boxSession.value == .closedByServer(code: 1000, reason: ""))
            print("console: a CloudBox session in progress closed \(ContinuousClock.now - unbound) after the unbind request")
            #expect(try await !Tunnel.blocking { try VNCClient.capture(hostSocket, password: second.ticket, timeout: 10) },
                    "after unbind the old ticket still works")

            // The agent logged its tunnels by session, never a token (it never gets one) nor a graphics password.
            let log = await agent.log()
            #expect(log.contains("console tunnel open") && log.contains("console tunnel closed"), "\(log.suffix(2000))")
            #expect(!log.contains("zct_") && !log.contains(bound.ticket) && !log.contains(second.ticket))
            // So did the coordinator, at every level from trace up.
            let coordinatorLog = logs.text
            #expect(coordinatorLog.contains("console session opened"), "\(coordinatorLog.suffix(2000))")
            for secret in ["zct_", bound.ticket, second.ticket, "Shot1234"] {
                #expect(!coordinatorLog.contains(secret), "the coordinator logged a console secret")
            }

            let deleted = try await c.client.delete("/api/v1/instances/\(instance.id)", token: user.token)
            #expect(deleted.status == 202, "\(deleted.text)")
            try await eventually("the instance is DELETED", within: 120) {
                try await c.client.get("/api/v1/instances/\(instance.id)", token: admin).decode(InstanceView.self).instance.status == .deleted
            }
        }
    }
}

/// A listening UNIX socket whose one accepted connection is a `ByteStream`: a local VNC client's way into a tunnel.
final class UnixSocketBridge: @unchecked Sendable {
    let path: String
    let listener: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard listener >= 0, bound == 0, listen(listener, 1) == 0 else { throw TestFailure("cannot listen on \(path): errno \(errno)") }
    }

    /// Waits for one client (the VNC client) and returns its connection.
    func accept() throws -> DescriptorStream {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { throw TestFailure("accept: errno \(errno)") }
        return DescriptorStream(fd)
    }

    func close() {
        Glibc.close(listener)
        unlink(path)
    }
}
