import Foundation
import Logging
import Testing
import ZedgeTestSupport
import ZedgeCore
import ZedgeTransport
@testable import ZedgeCoordinator

/// Consoles through the agent's own dial-out (issue #16), over real HTTPS and WebSockets on loopback: the test
/// plays the user with the real WebSocket client (`CurlWebSocket`, the one `zedgectl` and the agent use) and the
/// agent with the same client, the VM's console being a socket pair. The real agent and guest are in
/// `ConsoleEndToEndTests`.
@Suite("Console tunnels through the agent's dial-out")
struct ConsoleTunnelTests {
    /// A RUNNING instance on a new machine whose agent the test plays.
    static func runningInstance(_ f: InstanceFixture, ip: String) async throws
        -> (instance: Instance, vm: VirtualMachine, machine: (id: UUID, credential: String))
    {
        let machine = try await f.addMachine(ip: ip)
        let created = try await f.create("console-\(UUID().uuidString.prefix(4).lowercased())")
        guard created.status == 202 else { throw TestFailure("create: \(created.text)") }
        let instance = try created.decode(InstanceService.Accepted.self).instance.instance
        for task in try await f.lease(machine.credential) { try await f.finish(task, credential: machine.credential, state: .running) }
        guard try await f.instance(instance.id).instance.status == .running else { throw TestFailure("the instance is not RUNNING") }
        let vm = try await f.c.client.get("/api/v1/virtual-machines/\(instance.virtualMachineId!)", token: f.admin).decode(VirtualMachine.self)
        return (instance, vm, machine)
    }

    /// Runs blocking work (a WebSocket connect or relay) on a thread of its own.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await offThePool(body)
    }

    static func relayInBackground(_ socket: CurlWebSocket, _ stream: SocketPairStream) -> Task<CurlWebSocket.End, Never> {
        Task {
            await withCheckedContinuation { continuation in
                DispatchQueue(label: "zedge.test.relay").async { continuation.resume(returning: socket.relay(stream)) }
            }
        }
    }

    /// Plays the agent: waits for a `vm.console-open` call, dials the coordinator's WebSocket for it with the
    /// machine's credential, answers the call, and relays to `vm` in the background. With `refuse`, answers
    /// FAILED with that reason instead of dialling.
    static func agentSide(_ f: InstanceFixture, credential: String, vm: SocketPairStream, refuse: String? = nil) async throws
        -> (call: ConsoleOpenCall, relay: Task<CurlWebSocket.End, Never>?)
    {
        for _ in 0..<20 {
            let poll = try await f.c.client.get("/agent/v1/tasks?wait=5", token: credential).decode(TaskPollResponse.self)
            guard let call = poll.calls?.first(where: { $0.kind == .consoleOpen }) else { continue }
            let open = try call.payload.decode(as: ConsoleOpenCall.self)
            var relay: Task<CurlWebSocket.End, Never>?
            let answer: AgentCallAnswer
            if let refuse {
                answer = AgentCallAnswer(outcome: .failed, error: refuse)
            } else {
                let url = (open.dialURL ?? f.c.baseURL) + ConsoleOpenCall.agentPath(session: open.sessionId)
                let pem = f.c.started.caCertificatePEM!
                let socket = try await blocking {
                    try CurlWebSocket.connect(url: url, headers: ["Authorization": "Bearer \(credential)"], trust: .caPEM(pem))
                }
                relay = relayInBackground(socket, vm)
                answer = AgentCallAnswer(outcome: .succeeded)
            }
            let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(answer)) as! [String: Any]
            let answered = try await f.c.client.post("/agent/v1/calls/\(call.id)/answer", token: credential, body)
            #expect(answered.status == 204, "\(answered.text)")
            return (open, relay)
        }
        throw TestFailure("no vm.console-open call reached the agent")
    }

    /// Opens a WebSocket and relays until it ends; how it ended (a refusal is a close with 4000 + the HTTP status).
    static func ending(_ url: String, headers: [String: String] = [:], _ c: TestCoordinator) async throws -> CurlWebSocket.End {
        let pem = c.started.caCertificatePEM!
        let socket = try await blocking { try CurlWebSocket.connect(url: url, headers: headers, trust: .caPEM(pem)) }
        return await relayInBackground(socket, try SocketPairStream()).value
    }

    static func token(of grant: ConsoleGrant) -> String {
        String(grant.url.split(separator: "/").last!)
    }

    @Test(arguments: TestEngine.all)
    func aSerialConsoleGoesThroughTheAgentsOwnConnection(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let (instance, vmRow, machine) = try await Self.runningInstance(f, ip: "10.16.0.1")
            let pem = c.started.caCertificatePEM!

            let response = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: f.user.token, ["type": "serial"])
            #expect(response.status == 200, "\(response.text)")
            #expect(response.headers.first(name: "cache-control") == "no-store")
            let grant = try response.decode(ConsoleGrant.self)
            let token = Self.token(of: grant)
            #expect(token.hasPrefix("zct_") && grant.type == .serial && grant.instanceId == instance.id)
            #expect(grant.url == "\(c.baseURL)/console/\(token)", "\(grant.url)")
            #expect(grant.websocketUrl == "wss://127.0.0.1:\(c.started.port)/console/\(token)/websocket", "\(grant.websocketUrl)")
            #expect(abs(grant.expiresAt.timeIntervalSinceNow - 60) < 10)

            // The page loads, and loading it does not spend the token.
            for _ in 0..<2 {
                let page = try await c.client.get("/console/\(token)", token: nil)
                #expect(page.status == 200 && page.text.contains("new WebSocket(socketURL)"), "\(page.status)")
                #expect(page.headers.first(name: "referrer-policy") == "no-referrer")
                #expect(page.headers.first(name: "content-type")?.hasPrefix("text/html") == true)
            }
            // The WebSocket URL without an upgrade says what to do, and spends nothing either.
            let plain = try await c.client.get("/console/\(token)/websocket", token: nil)
            #expect(plain.status == 400 && plain.text.contains("WebSocket"), "\(plain.text)")

            // The user opens the WebSocket; the coordinator asks the host's agent to dial in, and splices the two.
            let vm = try SocketPairStream()
            async let agent = Self.agentSide(f, credential: machine.credential, vm: vm)
            let user = try SocketPairStream()
            let userSocket = try await Self.blocking { try CurlWebSocket.connect(url: grant.websocketUrl, trust: .caPEM(pem)) }
            let (call, agentRelay) = try await agent
            #expect(call.sessionId == grant.sessionId && call.type == .serial && call.vmName == vmRow.vmName)
            #expect(call.vmUuid == vmRow.vmUuid.flatMap(UUID.init(uuidString:)))
            let userRelay = Self.relayInBackground(userSocket, user)

            // Keys typed by the user reach the VM's console; what the VM writes reaches the user.
            user.send("echo hi\r")
            #expect(await vm.receive { $0.contains("echo hi\r") } == "echo hi\r")
            vm.send("hi\r\n/ # ")
            #expect(await user.receive { $0.hasSuffix("/ # ") } == "hi\r\n/ # ")
            // 1 MiB from the VM arrives whole and in order (many WebSocket messages through both legs).
            let burst = (0..<(1 << 20)).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) }
            let burstText = String(burst)
            DispatchQueue(label: "zedge.test.burst").async { vm.send(burstText) }
            let arrived = await user.receive(bytes: burstText.utf8.count, within: 60)
            #expect(arrived.count == burstText.utf8.count && arrived.elementsEqual(burstText.utf8), "\(arrived.count) bytes")

            // The token is spent: a second WebSocket is refused (closed with 4403 and why), and the page says so.
            let reused = try await Self.ending(grant.websocketUrl, c)
            guard case .closedByServer(4403, let why) = reused, why.contains("used already") else {
                Issue.record("a spent token was not refused: \(reused)")
                return
            }
            #expect(try await c.client.get("/console/\(token)", token: nil).status == 403)

            // Closing the user's side closes the agent's, and the VM's console is let go.
            userSocket.cancel()
            #expect(await userRelay.value == .cancelled)
            #expect(await agentRelay?.value == .closedByServer(code: 1000, reason: ""))
            #expect(await vm.peerSeesEnd())

            // The open is in the audit log, naming the session, and the token is nowhere in it.
            let audit = try await c.client.get("/api/v1/audit-logs?action=instance.console", token: f.admin)
            #expect(audit.status == 200 && audit.text.contains(grant.sessionId.uuidString), "\(audit.text)")
            #expect(!audit.text.contains(token))
            // So is each use of the token: spent (SUCCESS), then refused (DENIED, 4403), from where and by whose session.
            let connects = try await c.client.get("/api/v1/audit-logs?action=console.connect", token: f.admin)
            #expect(!connects.text.contains(token))
            let rows = try connects.decode(Page<AuditLog>.self).items.sorted { $0.createdAt < $1.createdAt }
            #expect(rows.map(\.status) == [.success, .denied], "\(connects.text)")
            for row in rows {
                #expect(row.resourceType == "CONSOLE" && row.resourceId == instance.id && row.userId == f.user.user.id)
                #expect(row.details?["consoleSessionId"]?.stringValue == grant.sessionId.uuidString && row.ipAddress == "127.0.0.1")
            }
            #expect(rows.last?.details?["closeCode"] == .number(4403))
        }
    }

    @Test(arguments: TestEngine.all)
    func tokensAreRefusedWhenUnknownExpiredOrForAnotherTenantsInstance(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let (instance, _, machine) = try await Self.runningInstance(f, ip: "10.16.0.2")
            let pem = c.started.caCertificatePEM!

            // A token no session has.
            let unknown = "zct_00000000_" + String(repeating: "A", count: 43)
            #expect(try await c.client.get("/console/\(unknown)", token: nil).status == 404)
            let unknownEnd = try await Self.ending("wss://127.0.0.1:\(c.started.port)/console/\(unknown)/websocket", c)
            #expect(unknownEnd == .closedByServer(code: 4404, reason: "Console session not found."), "\(unknownEnd)")

            // Another tenant's user does not see the instance; a bad type names the field.
            let other = try await c.createTenant("other-\(UUID().uuidString.prefix(4).lowercased())", token: f.admin)
            let stranger = try await c.createUser("stranger-\(UUID().uuidString.prefix(4).lowercased())", role: .user, tenant: other.id, token: f.admin)
            #expect(try await c.client.post("/api/v1/instances/\(instance.id)/console", token: stranger.token, ["type": "serial"]).status == 404)
            let badType = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: f.user.token, ["type": "rdp"])
            #expect((400...422).contains(badType.status) && badType.problemFields == ["type"], "\(badType.text)")
            #expect(try await c.client.post("/api/v1/instances/\(instance.id)/console", token: nil, ["type": "serial"]).status == 401)

            // An instance that is not RUNNING has no console.
            let creating = try await f.create("not-yet")
            let creatingId = try creating.decode(InstanceService.Accepted.self).instance.instance.id
            let notRunning = try await c.client.post("/api/v1/instances/\(creatingId)/console", token: f.user.token, ["type": "vnc"])
            #expect(notRunning.status == 409 && notRunning.text.contains("CREATING"), "\(notRunning.text)")

            // A token past its 60 s is expired: spent at a later time, the store says so (the real SQL).
            let grant = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: f.user.token, ["type": "vnc"]).decode(ConsoleGrant.self)
            let hash = SecretToken.hash(Self.token(of: grant))
            let url = c.configuration.effectiveDatabaseURL
            let late = try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
                try await SQLConsoleSessionRepository(database: database).spend(tokenHash: hash, now: Date().addingTimeInterval(61))
            }
            guard case .expired(let expired) = late, expired.id == grant.sessionId else {
                Issue.record("a token past its expiry was \(late)")
                return
            }
            // The vnc page loads noVNC's module (Debian's novnc package is installed where the tests run).
            let page = try await c.client.get("/console/\(Self.token(of: grant))", token: nil)
            #expect(page.status == 200 && page.text.contains("/console/novnc/core/rfb.js"), "\(page.text)")
            let module = try await c.client.get("/console/novnc/core/rfb.js", token: nil)
            #expect(module.status == 200 && module.headers.first(name: "content-type")?.hasPrefix("text/javascript") == true)
            #expect(module.headers.first(name: "cache-control") == "public, max-age=3600")
            #expect(try await c.client.get("/console/novnc/core/nothing-here.js", token: nil).status == 404)
            let escape = try await c.client.get("/console/novnc/../../../etc/passwd", token: nil)
            #expect(escape.status == 400 && !escape.text.contains("root:"), "\(escape.status) \(escape.text)")

            // The agent answers that it cannot open the console: the user's WebSocket closes with 4409 and why.
            // The user's input has already ended (zedgectl with standard input at /dev/null), so the relay's own
            // close crosses the refusal: the refusal is still what it reports. libvirt's text is longer than a close
            // frame's 123 bytes: the reason is cut at a word and says so.
            let vm = try SocketPairStream()
            let libvirtText = "internal error: character device serial0 is not using a PTY; "
                + "this function is not supported by the connection driver: virDomainOpenConsole"
            async let agent = Self.agentSide(f, credential: machine.credential, vm: vm, refuse: libvirtText)
            let user = try SocketPairStream()
            user.endInput()
            let socket = try await Self.blocking { try CurlWebSocket.connect(url: grant.websocketUrl, trust: .caPEM(pem)) }
            _ = try await agent
            let refused = await Self.relayInBackground(socket, user).value
            guard case .closedByServer(4409, let why) = refused else {
                Issue.record("the agent's refusal did not reach the user: \(refused)")
                return
            }
            let full = "The host could not open the console: " + libvirtText
            #expect(why.utf8.count <= 123 && why.hasSuffix("…"), "\(why)")
            let kept = String(why.dropLast())
            #expect(kept.count > 40 && full.hasPrefix(kept) && full.dropFirst(kept.count).first.map { !$0.isLetter && !$0.isNumber } == true,
                    "the reason is not the message cut at a word: \(why)")

            // An agent WebSocket for a session nobody waits for is refused, and so is one without a credential.
            let nobody = try await Self.ending(c.baseURL + ConsoleOpenCall.agentPath(session: UUID()),
                                               headers: ["Authorization": "Bearer \(machine.credential)"], c)
            #expect(nobody == .closedByServer(code: 4404, reason: "Console session not found."), "\(nobody)")
            let anonymous = try await Self.ending(c.baseURL + ConsoleOpenCall.agentPath(session: UUID()), c)
            guard case .closedByServer(4401, _) = anonymous else {
                Issue.record("an agent WebSocket without a credential was not refused: \(anonymous)")
                return
            }
        }
    }

    /// Without Debian's novnc the vnc page says what to install, and the WebSocket still works (zedgectl's way).
    @Test func withoutNoVNCTheVncPageSaysWhatToInstall() async throws {
        try await TestCoordinator.with(.sqlite, configure: {
            InstanceFixture.patient(&$0)
            $0.novncDirectory = "/nonexistent/novnc"
        }) { c in
            let f = try await InstanceFixture.make(c)
            let (instance, _, _) = try await Self.runningInstance(f, ip: "10.16.0.4")
            let grant = try await c.client.post("/api/v1/instances/\(instance.id)/console", token: f.user.token, ["type": "vnc"])
                .decode(ConsoleGrant.self)
            let page = try await c.client.get("/console/\(Self.token(of: grant))", token: nil)
            #expect(page.status == 200 && page.text.contains("apt install novnc") && !page.text.contains("rfb.js'"), "\(page.text)")
            #expect(try await c.client.get("/console/novnc/core/rfb.js", token: nil).status == 404)
        }
    }

    /// A free TCP port on loopback, from the kernel (bound to 0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TestFailure("no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Two PostgreSQL replicas behind "one address": the token is issued by A and spent on B; the agent, whose
    /// long-poll A holds, is told to dial B (`consoleDialUrl`), where the user's side waits.
    @Test  // on PostgreSQL (ZEDGE_TEST_POSTGRES_URL, which make test sets); fails without it, never skips
    func theAgentDialsTheReplicaThatHoldsTheUsersSide() async throws {
        try await TestCoordinator.with(.postgres, configure: InstanceFixture.patient) { a in
            var second = a.configuration
            second.port = try Self.freePort()
            second.consoleDialURL = "https://127.0.0.1:\(second.port)"
            try await TestCoordinator.run(second) { b in
                let f = try await InstanceFixture.make(a)
                let (instance, _, machine) = try await Self.runningInstance(f, ip: "10.16.0.3")
                let grant = try await a.client.post("/api/v1/instances/\(instance.id)/console", token: f.user.token, ["type": "serial"])
                    .decode(ConsoleGrant.self)
                let onB = "wss://127.0.0.1:\(b.started.port)/console/\(Self.token(of: grant))/websocket"
                let vm = try SocketPairStream()
                async let agent = Self.agentSide(f, credential: machine.credential, vm: vm)  // polls A
                try await Task.sleep(for: .milliseconds(500))  // the agent's poll is held by A
                let pem = b.started.caCertificatePEM!
                let userSocket = try await Self.blocking { try CurlWebSocket.connect(url: onB, trust: .caPEM(pem)) }
                let (call, agentRelay) = try await agent
                #expect(call.dialURL == "https://127.0.0.1:\(b.started.port)", "\(String(describing: call.dialURL))")
                let user = try SocketPairStream()
                let userRelay = Self.relayInBackground(userSocket, user)
                vm.send("through B\r\n")
                #expect(await user.receive { $0.contains("through B") }.contains("through B"))
                user.send("typed on B")
                #expect(await vm.receive { $0.contains("typed on B") } == "typed on B")
                userSocket.cancel()
                #expect(await userRelay.value == .cancelled)
                #expect(await agentRelay?.value == .closedByServer(code: 1000, reason: ""))
            }
        }
    }
}
