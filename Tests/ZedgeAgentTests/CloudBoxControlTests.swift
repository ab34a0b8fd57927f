import Foundation
import ZedgeTestSupport
import Testing
import ZedgeCore

@testable import ZedgeAgent

// The agent side of the cloudbox.* tasks: FileCloudBoxControl's files (what the box's session and network tools
// read), the payload rules, and TaskExecutor's results. Every test uses its own temporary directory.

/// A directory that does not exist yet (FileCloudBoxControl creates it), under a fresh temporary folder.
private func scratchDirectory() -> URL {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("zedge-cloudbox-\(UUID().uuidString)", isDirectory: true)
        .appendingPathComponent("etc/zedge-cloudbox", isDirectory: true)
}

private func cleanUp(_ directory: URL) {
    try? FileManager.default.removeItem(at: directory.deletingLastPathComponent().deletingLastPathComponent())
}

private func contents(_ directory: URL, _ name: String) -> String? {
    FileManager.default.contents(atPath: directory.appendingPathComponent(name).path).map { String(decoding: $0, as: UTF8.self) }
}

private func exists(_ directory: URL, _ name: String) -> Bool {
    FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path)
}

private func mode(_ directory: URL, _ name: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
    return (attributes[.posixPermissions] as? Int ?? -1) & 0o7777
}

/// Reboots nothing; remembers each request and fails when told to.
private actor TestRebooter: Rebooter {
    var reasons: [String?] = []
    var failure: AgentError?

    init(failure: AgentError? = nil) { self.failure = failure }

    func reboot(reason: String?) async throws {
        reasons.append(reason)
        if let failure { throw failure }
    }
}

private let ticket = "tkt-9f8e7d6c5b4a39281706f5e4d3c2b1a0-SECRET"
private let expiry = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

private let tunnelPath = "/console/zct_0a1b2c3d_TOKEN-SECRET/websocket"
private let coordinator = "https://coord.example:8443"

private func bindPayload(instanceId: UUID = UUID(), path: String = tunnelPath, ticket: String = ticket) -> CloudBoxBindPayload {
    CloudBoxBindPayload(instanceId: instanceId, instanceName: "desk-1",
                        console: ConsoleEndpoint(kind: .spice, websocketPath: path), ticket: ticket, expiresAt: expiry)
}

/// What the box writes: the payload with the tunnel's absolute URL on its coordinator.
private func written(_ bind: CloudBoxBindPayload) -> CloudBoxBindPayload {
    var session = bind
    session.console.websocketUrl = "wss://coord.example:8443" + bind.console.websocketPath
    return session
}

private let staticNetwork = CloudBoxNetworkPayload(
    networkMode: "STATIC", ipAddress: "192.0.2.10", subnetMask: "255.255.255.0", gateway: "192.0.2.1",
    dnsServers: ["192.0.2.53", "2001:db8::53"])

/// The fields a result's error names ("invalid payload: gateway must …; subnetMask must …").
private func failedFields(_ report: TaskResultReport) -> [String] {
    guard let error = report.error, error.hasPrefix("invalid payload: ") else { return [] }
    return error.dropFirst("invalid payload: ".count).components(separatedBy: "; ").compactMap { $0.split(separator: " ").first.map(String.init) }
}

private func jsonText(_ value: JSONValue?) throws -> String {
    String(decoding: try ZedgeJSON.encoder().encode(value), as: UTF8.self)
}

@Suite("CloudBox control: files")
struct CloudBoxFileTests {
    @Test func bindWritesSessionWithTheTicketPrivately() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let box = FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator)
        let bind = bindPayload()
        try await box.bind(bind)

        #expect(try mode(dir, "session.json") == 0o600)
        let text = try #require(contents(dir, "session.json"))
        #expect(text.hasSuffix("}\n"))
        #expect(try ZedgeJSON.decoder().decode(CloudBoxBindPayload.self, from: Data(text.utf8)) == written(bind))
        let object = try ZedgeJSON.decoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(object == [
            "instanceId": .string(bind.instanceId.uuidString), "instanceName": "desk-1",
            "console": ["kind": "spice", "websocketPath": .string(tunnelPath),
                        "websocketUrl": .string("wss://coord.example:8443" + tunnelPath)],
            "ticket": .string(ticket), "expiresAt": "2026-01-01T00:00:00.000Z",
        ])
        // Nothing else in the directory: no temporary file left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["session.json"])

        #expect(try await box.current() == CloudBoxState(session: CloudBoxSession(bind)))

        // Binding again (another instance) replaces the session.
        let next = bindPayload(path: "/console/zct_other/websocket")
        try await box.bind(next)
        #expect(try await box.current().session?.instanceId == next.instanceId)
        #expect(try mode(dir, "session.json") == 0o600)
    }

    @Test func unbindRemovesTheSessionAndIsIdempotent() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let box = FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator)
        #expect(try await box.unbind(CloudBoxUnbindPayload()) == .notBound)  // nothing there, not even the folder

        let bind = bindPayload()
        try await box.bind(bind)
        #expect(try await box.unbind(CloudBoxUnbindPayload(instanceId: bind.instanceId, reason: "released")) == .unbound)
        #expect(!exists(dir, "session.json"))
        #expect(try await box.current().session == nil)
        // Delivered again: nothing to do, still success.
        #expect(try await box.unbind(CloudBoxUnbindPayload(instanceId: bind.instanceId, reason: "released")) == .notBound)
        #expect(try await box.unbind(CloudBoxUnbindPayload()) == .notBound)
        #expect(!exists(dir, "session.json"))
    }

    @Test func unbindForAnotherInstanceLeavesTheSession() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let box = FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator)
        let bind = bindPayload()
        try await box.bind(bind)
        let before = contents(dir, "session.json")

        #expect(try await box.unbind(CloudBoxUnbindPayload(instanceId: UUID(), reason: "stale")) == .otherInstanceBound)
        #expect(contents(dir, "session.json") == before)
        #expect(try await box.current().session == CloudBoxSession(bind))

        // Without an instance id, whatever is bound is unbound.
        #expect(try await box.unbind(CloudBoxUnbindPayload()) == .unbound)
        #expect(!exists(dir, "session.json"))
    }

    @Test func configureNetworkStaticThenDhcp() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let box = FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator)

        try await box.configureNetwork(staticNetwork)
        #expect(contents(dir, "network.json") == """
            {
              "dnsServers" : [
                "192.0.2.53",
                "2001:db8::53"
              ],
              "gateway" : "192.0.2.1",
              "ipAddress" : "192.0.2.10",
              "networkMode" : "STATIC",
              "subnetMask" : "255.255.255.0"
            }

            """)
        #expect(contents(dir, "network.env") == """
            # Written by zedge-agent (cloudbox.configure-network); do not edit.
            NETWORK_MODE="STATIC"
            IP_ADDRESS="192.0.2.10"
            SUBNET_MASK="255.255.255.0"
            GATEWAY="192.0.2.1"
            DNS_SERVERS="192.0.2.53 2001:db8::53"

            """)
        #expect(try mode(dir, "network.json") == 0o644)
        #expect(try mode(dir, "network.env") == 0o644)
        #expect(try await box.current() == CloudBoxState(network: staticNetwork))

        let dhcp = CloudBoxNetworkPayload(networkMode: "DHCP")
        try await box.configureNetwork(dhcp)
        #expect(contents(dir, "network.json") == """
            {
              "dnsServers" : [

              ],
              "networkMode" : "DHCP"
            }

            """ || contents(dir, "network.json") == "{\n  \"dnsServers\" : [],\n  \"networkMode\" : \"DHCP\"\n}\n")
        #expect(contents(dir, "network.env") == """
            # Written by zedge-agent (cloudbox.configure-network); do not edit.
            NETWORK_MODE="DHCP"
            IP_ADDRESS=""
            SUBNET_MASK=""
            GATEWAY=""
            DNS_SERVERS=""

            """)
        #expect(try await box.current().network == dhcp)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["network.json", "network.env"])
    }

    @Test func networkEnvCanBeSourcedByAShell() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        try await FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator).configureNetwork(staticNetwork)
        let process = SpawnedProcess()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", ". \"$1\" && printf '%s|%s|%s|%s|%s' \"$NETWORK_MODE\" \"$IP_ADDRESS\" \"$SUBNET_MASK\" \"$GATEWAY\" \"$DNS_SERVERS\"",
                             "sh", dir.appendingPathComponent("network.env").path]
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(text == "STATIC|192.0.2.10|255.255.255.0|192.0.2.1|192.0.2.53 2001:db8::53")
    }

    @Test func rebootRecordsTheRequestThenCallsTheRebooter() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let rebooter = TestRebooter()
        let box = FileCloudBoxControl(directory: dir, rebooter: rebooter, coordinator: coordinator)
        let before = Date()
        try await box.reboot(CloudBoxRebootPayload(reason: "firmware update"))
        #expect(await rebooter.reasons == ["firmware update"])
        #expect(try mode(dir, "last-reboot-request.json") == 0o644)
        let request = try #require(try await box.current().lastRebootRequest)
        #expect(request.reason == "firmware update")
        #expect(request.requestedAt >= before.addingTimeInterval(-1) && request.requestedAt <= Date().addingTimeInterval(1))

        try await box.reboot(CloudBoxRebootPayload())
        #expect(await rebooter.reasons == ["firmware update", nil])
        #expect(try await box.current().lastRebootRequest?.reason == nil)
    }

    @Test func aFailingRebooterFailsAfterTheRequestIsRecorded() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let box = FileCloudBoxControl(directory: dir, rebooter: TestRebooter(failure: AgentError("systemctl: no")), coordinator: coordinator)
        await #expect(throws: AgentError.self) { try await box.reboot(CloudBoxRebootPayload(reason: "x")) }
        #expect(try await box.current().lastRebootRequest?.reason == "x")
    }

    @Test func theControlRefusesInvalidPayloadsItself() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let box = FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator)
        // What it writes is read (and sourced) by the box's tools: nothing unvalidated gets there.
        let injection = CloudBoxNetworkPayload(networkMode: "STATIC", ipAddress: "192.0.2.10", subnetMask: "255.255.255.0",
                                               gateway: "192.0.2.1\"; reboot; \"")
        await #expect(throws: ValidationFailure.self) { try await box.configureNetwork(injection) }
        await #expect(throws: ValidationFailure.self) { try await box.bind(bindPayload(path: "/etc/passwd")) }
        #expect(!FileManager.default.fileExists(atPath: dir.path))
    }
}

@Suite("CloudBox tasks through TaskExecutor")
struct CloudBoxExecutorTests {
    @Test func bindUnbindAndObservedState() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let executor = TaskExecutor(hypervisor: nil, cloudBox: FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator))
        let bind = bindPayload()

        let bound = await executor.execute(.cloudboxBind, payload: try JSONValue(encoding: bind))
        #expect(bound.outcome == .succeeded, "\(bound.error ?? "")")
        #expect(bound.observed?["session"]?["instanceId"]?.stringValue == bind.instanceId.uuidString)
        #expect(bound.observed?["session"]?["consoleKind"] == "spice" && bound.observed?["session"]?["console"] == nil)
        #expect(try !jsonText(bound.observed).contains("TOKEN-SECRET"))
        #expect(bound.observed?["session"]?["ticket"] == nil)
        #expect(bound.observed?["network"] == .null)
        #expect(try !jsonText(bound.observed).contains(ticket))

        let other = await executor.execute(.cloudboxUnbind, payload: try JSONValue(encoding: CloudBoxUnbindPayload(instanceId: UUID())))
        #expect(other.outcome == .succeeded)
        #expect(other.observed?["unbind"] == "OTHER_INSTANCE_BOUND")
        #expect(other.observed?["session"]?["instanceId"]?.stringValue == bind.instanceId.uuidString)
        #expect(try !jsonText(other.observed).contains(ticket))

        for expected in ["UNBOUND", "NOT_BOUND"] {
            let unbound = await executor.execute(.cloudboxUnbind, payload: ["instanceId": .string(bind.instanceId.uuidString), "reason": "expired"])
            #expect(unbound.outcome == .succeeded)
            #expect(unbound.observed?["unbind"]?.stringValue == expected)
            #expect(unbound.observed?["session"] == .null)
        }
        // An empty payload unbinds whatever is bound.
        #expect(await executor.execute(.cloudboxUnbind, payload: [:]).outcome == .succeeded)
    }

    @Test func configureNetworkAndReboot() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let rebooter = TestRebooter()
        let executor = TaskExecutor(hypervisor: nil, cloudBox: FileCloudBoxControl(directory: dir, rebooter: rebooter, coordinator: coordinator))

        let configured = await executor.execute(.cloudboxConfigureNetwork, payload: [
            "networkMode": "STATIC", "ipAddress": "192.0.2.10", "subnetMask": "255.255.255.0", "gateway": "192.0.2.1",
            "dnsServers": ["192.0.2.53", "2001:db8::53"],
        ])
        #expect(configured.outcome == .succeeded, "\(configured.error ?? "")")
        #expect(configured.observed?["network"] == (try JSONValue(encoding: staticNetwork)))
        #expect(configured.observed?["session"] == .null)
        #expect(exists(dir, "network.env"))

        // dnsServers may be left out.
        #expect(await executor.execute(.cloudboxConfigureNetwork, payload: ["networkMode": "DHCP"]).outcome == .succeeded)
        #expect(try await FileCloudBoxControl(directory: dir, rebooter: rebooter, coordinator: coordinator).current().network == CloudBoxNetworkPayload(networkMode: "DHCP"))

        let rebooted = await executor.execute(.cloudboxReboot, payload: ["reason": "maintenance"])
        #expect(rebooted.outcome == .succeeded)
        #expect(rebooted.observed?["lastRebootRequest"]?["reason"] == "maintenance")
        #expect(await rebooter.reasons == ["maintenance"])
        #expect(await executor.execute(.cloudboxReboot, payload: [:]).outcome == .succeeded)
        #expect(await rebooter.reasons == ["maintenance", nil])
    }

    @Test(arguments: [
        // A gateway that is not an address.
        (["networkMode": "STATIC", "ipAddress": "192.0.2.10", "subnetMask": "255.255.255.0", "gateway": "192.0.2.300"] as JSONValue, ["gateway"]),
        // A gateway outside the box's subnet.
        (["networkMode": "STATIC", "ipAddress": "192.0.2.10", "subnetMask": "255.255.255.0", "gateway": "198.51.100.1"], ["gateway"]),
        // A netmask with a hole.
        (["networkMode": "STATIC", "ipAddress": "192.0.2.10", "subnetMask": "255.0.255.0", "gateway": "192.0.2.1"], ["subnetMask"]),
        // STATIC without its address.
        (["networkMode": "STATIC", "subnetMask": "255.255.255.0", "gateway": "192.0.2.1"], ["ipAddress"]),
        (["networkMode": "STATIC"], ["ipAddress", "subnetMask", "gateway"]),
        (["networkMode": "static"], ["networkMode"]),
        (["networkMode": "DHCP", "gateway": "192.0.2.1"], ["gateway"]),
        (["networkMode": "DHCP", "dnsServers": ["1.1.1.1", "8.8.8.8", "9.9.9.9", "8.8.4.4", "1.0.0.1"]], ["dnsServers"]),
        (["networkMode": "DHCP", "dnsServers": ["1.1.1.1", "dns.example"]], ["dnsServers[1]"]),
    ] as [(JSONValue, [String])])
    func invalidNetworkPayloadsFailNamingTheField(payload: JSONValue, fields: [String]) async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let executor = TaskExecutor(hypervisor: nil, cloudBox: FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator))
        let report = await executor.execute(.cloudboxConfigureNetwork, payload: payload)
        #expect(report.outcome == .failed)
        #expect(report.error?.hasPrefix("invalid payload: ") == true, "\(report.error ?? "")")
        #expect(failedFields(report) == fields, "\(report.error ?? "")")
        #expect(report.observed == nil)
        #expect(!exists(dir, "network.json") && !exists(dir, "network.env"))
    }

    @Test func invalidBindFailsWithoutEchoingTheTicket() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let executor = TaskExecutor(hypervisor: nil, cloudBox: FileCloudBoxControl(directory: dir, rebooter: TestRebooter(), coordinator: coordinator))
        let report = await executor.execute(.cloudboxBind, payload: try JSONValue(encoding: bindPayload(path: "/console/bad path/websocket")))
        #expect(report.outcome == .failed)
        #expect(failedFields(report) == ["console.websocketPath"])
        #expect(!exists(dir, "session.json"))

        let spaced = "one two"
        let badTicket = await executor.execute(.cloudboxBind, payload: try JSONValue(encoding: bindPayload(ticket: spaced)))
        #expect(failedFields(badTicket) == ["ticket"])
        #expect(badTicket.error?.contains(spaced) == false)

        // A payload that does not decode fails too (missing ticket).
        var missing = try JSONValue(encoding: bindPayload()).objectValue ?? [:]
        missing["ticket"] = nil
        let undecodable = await executor.execute(.cloudboxBind, payload: .object(missing))
        #expect(undecodable.outcome == .failed)
        #expect(undecodable.error?.contains("ticket") == true)
    }

    @Test func withoutACloudBoxTheKindsAreNotSupported() async throws {
        let executor = TaskExecutor(hypervisor: nil)
        for kind in [TaskKind.cloudboxBind, .cloudboxUnbind, .cloudboxConfigureNetwork, .cloudboxReboot] {
            let report = await executor.execute(kind, payload: [:])
            #expect(report == TaskResultReport(outcome: .failed, error: "\(kind.rawValue) is not supported by this agent version"))
        }
        // A CloudBox's executor has no hypervisor.
        let vm = await executor.execute(.vmStart, payload: ["vmUuid": .string(UUID().uuidString), "vmName": "x"])
        #expect(vm.error == "vm.start is not supported by this agent version")
    }

    @Test func aFailingRebootIsAFailedResult() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let executor = TaskExecutor(hypervisor: nil, cloudBox: FileCloudBoxControl(
            directory: dir, rebooter: TestRebooter(failure: AgentError("/usr/bin/systemctl reboot failed with exit status 1")), coordinator: coordinator))
        let report = await executor.execute(.cloudboxReboot, payload: ["reason": "x"])
        #expect(report == TaskResultReport(outcome: .failed, error: "/usr/bin/systemctl reboot failed with exit status 1"))
    }
}

@Suite("CloudBox payloads")
struct CloudBoxPayloadTests {
    @Test func theTicketIsNeverPrinted() {
        let bind = bindPayload()
        var dumped = ""
        dump(bind, to: &dumped)
        for text in [String(describing: bind), String(reflecting: bind), "\(bind)", dumped, "\([bind])"] {
            #expect(!text.contains(ticket), "\(text)")
            #expect(text.contains("<redacted>"), "\(text)")
        }
        #expect(String(describing: bind).contains(bind.instanceId.uuidString))
        #expect(!"\(CloudBoxSession(bind))".contains(ticket))
        for text in [String(describing: bind), "\(CloudBoxSession(bind))", String(reflecting: bind)] {
            #expect(!text.contains("TOKEN-SECRET"), "\(text)")
        }
    }

    @Test func bindRules() {
        #expect(bindPayload().validate() == [])
        #expect(bindPayload(path: "/console/x/websocket").validate() == [])
        for bad in ["", "/etc/passwd", "/console/a b/websocket", "/console/x/websocket/../..", "/console/" + String(repeating: "a", count: 600) + "/websocket"] {
            #expect(bindPayload(path: bad).validate().map(\.field) == ["console.websocketPath"], "\(bad)")
        }
        #expect(bindPayload(ticket: "").validate().map(\.field) == ["ticket"])
        #expect(bindPayload(ticket: String(repeating: "a", count: 4097)).validate().map(\.field) == ["ticket"])
        var badName = bindPayload()
        badName.instanceName = "desk 1"
        #expect(badName.validate().map(\.field) == ["instanceName"])
    }

    @Test func networkRules() {
        #expect(staticNetwork.validate() == [])
        #expect(CloudBoxNetworkPayload(networkMode: "DHCP", dnsServers: ["1.1.1.1", "2606:4700::1111"]).validate() == [])
        func fields(ip: String = "10.1.2.3", mask: String = "255.255.255.0", gateway: String = "10.1.2.1") -> [String] {
            CloudBoxNetworkPayload(networkMode: "STATIC", ipAddress: ip, subnetMask: mask, gateway: gateway).validate().map(\.field)
        }
        #expect(fields() == [])
        #expect(fields(mask: "255.255.252.0", gateway: "10.1.0.1") == [])
        #expect(fields(mask: "255.255.255.254", gateway: "10.1.2.2") == [])  // a /31 has no network/broadcast address
        #expect(fields(mask: "0.0.0.0") == ["subnetMask"])
        #expect(fields(mask: "255.255.255.1") == ["subnetMask"])
        #expect(fields(mask: "24") == ["subnetMask"])
        #expect(fields(ip: "10.1.2.0") == ["ipAddress"])
        #expect(fields(ip: "10.1.2.255") == ["ipAddress"])
        #expect(fields(gateway: "10.1.2.3") == ["gateway"])
        #expect(fields(gateway: "10.1.3.1") == ["gateway"])
        #expect(fields(ip: "2001:db8::10") == ["ipAddress"])
        #expect(CloudBoxNetworkPayload(networkMode: "DHCP", dnsServers: ["1.1.1.1", "1.1.1.1"]).validate().map(\.field) == ["dnsServers[1]"])
        #expect(CloudBoxNetworkPayload.prefixLength(ofNetmask: "255.255.255.0") == 24)
        #expect(CloudBoxNetworkPayload.prefixLength(ofNetmask: "255.255.255.255") == 32)
        #expect(CloudBoxNetworkPayload.prefixLength(ofNetmask: "128.0.0.0") == 1)
        #expect(CloudBoxNetworkPayload.prefixLength(ofNetmask: "255.0.255.0") == nil)
    }

    @Test func reasonRules() {
        #expect(CloudBoxRebootPayload(reason: "ok").validate() == [])
        #expect(CloudBoxRebootPayload(reason: String(repeating: "x", count: 257)).validate().map(\.field) == ["reason"])
        #expect(CloudBoxUnbindPayload(reason: "bell\u{07}").validate().map(\.field) == ["reason"])
    }

    @Test func stateEncodesAbsentPartsAsNull() throws {
        #expect(try JSONValue(encoding: CloudBoxState()) == ["session": nil, "network": nil, "lastRebootRequest": nil])
    }
}

@Suite("Rebooters")
struct RebooterTests {
    @Test func systemRebooterRunsItsCommand() async throws {
        try await SystemRebooter(executable: "/bin/sh", arguments: ["-c", "exit 0"]).reboot(reason: nil)
        await #expect(throws: AgentError.self) {
            try await SystemRebooter(executable: "/bin/sh", arguments: ["-c", "exit 3"]).reboot(reason: nil)
        }
        await #expect(throws: AgentError.self) {
            try await SystemRebooter(executable: "/nonexistent/systemctl").reboot(reason: nil)
        }
        #expect(SystemRebooter().executable == "/usr/bin/systemctl")
        #expect(SystemRebooter().arguments == ["reboot"])
    }

    @Test func theRecordHookNeverReboots() async throws {
        let dir = scratchDirectory()
        defer { cleanUp(dir) }
        let rebooter = try RebooterHook.rebooter(cloudBoxDirectory: dir, environment: ["ZEDGE_AGENT_REBOOTER": "record"])
        let recording = try #require(rebooter as? RecordingRebooter)
        #expect(recording.markerPath == dir.appendingPathComponent("recorded-reboots.jsonl").path)

        let box = FileCloudBoxControl(directory: dir, rebooter: rebooter, coordinator: coordinator)
        try await box.reboot(CloudBoxRebootPayload(reason: "first"))
        try await box.reboot(CloudBoxRebootPayload())
        let lines = try #require(contents(dir, "recorded-reboots.jsonl")).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(try ZedgeJSON.decoder().decode(CloudBoxRebootRequest.self, from: Data(lines[0].utf8)).reason == "first")
        #expect(try ZedgeJSON.decoder().decode(CloudBoxRebootRequest.self, from: Data(lines[1].utf8)).reason == nil)

        #expect(try RebooterHook.rebooter(cloudBoxDirectory: dir, environment: [:]) is SystemRebooter)
        #expect(try RebooterHook.rebooter(cloudBoxDirectory: dir, environment: ["ZEDGE_AGENT_REBOOTER": "system"]) is SystemRebooter)
        #expect(throws: AgentError.self) {
            try RebooterHook.rebooter(cloudBoxDirectory: dir, environment: ["ZEDGE_AGENT_REBOOTER": "recrod"])
        }
    }
}
