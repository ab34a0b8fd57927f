import Foundation
import ZedgeTestSupport
import Logging
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// The agent's settings: flag over environment over file over default for every key, the errors that name
/// their source, the example config file, and a real `zedge-agent run --config` process (on libvirt's test
/// driver) that runs with what the file, the environment and a flag say.
@Suite("Agent configuration")
struct AgentConfigurationTests {

    @Test func flagsWinOverEnvironmentOverFile() throws {
        let dir = try makeTestDirectory("agent-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.json").path
        try #"{"domainType": "kvm", "imageCacheBytes": "50G", "imageDownloadBytesPerSecond": 1048576, "stateDir": "/srv/zedge"}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file)
        #expect(fromFile.domainType == .kvm)
        #expect(fromFile.imageCacheBytes == 50 << 30)
        #expect(fromFile.imageDownloadBytesPerSecond == 1 << 20)
        #expect(fromFile.stateDirectory == "/srv/zedge")
        #expect(fromFile.libvirtURI == "qemu:///system")  // default

        let environment = ["ZEDGE_AGENT_DOMAIN_TYPE": "qemu", "ZEDGE_AGENT_IMAGE_CACHE_BYTES": "512M"]
        let fromEnvironment = try AgentConfiguration.resolve(flags: [:], environment: environment, configFile: file)
        #expect(fromEnvironment.domainType == .qemu)
        #expect(fromEnvironment.imageCacheBytes == 512 << 20)
        #expect(fromEnvironment.imageDownloadBytesPerSecond == 1 << 20)

        let fromFlags = try AgentConfiguration.resolve(flags: [.domainType: "auto", .imageCacheBytes: "1T"],
                                                       environment: environment, configFile: file)
        #expect(fromFlags.domainType == .auto)
        #expect(fromFlags.imageCacheBytes == 1 << 40)
        #expect(AgentConfiguration.Key.imageDownloadBytesPerSecond.environmentVariable == "ZEDGE_AGENT_IMAGE_DOWNLOAD_BYTES_PER_SECOND")
        #expect(AgentConfiguration.Key.imageDownloadBytesPerSecond.flag == "--image-download-bytes-per-second")
        #expect(AgentConfiguration.Key.libvirtUri.flag == "--libvirt-uri")
    }

    @Test func badValuesNameTheirSource() throws {
        func message(_ body: () throws -> AgentConfiguration) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        #expect(message { try AgentConfiguration.resolve(flags: [.domainType: "xen"], environment: [:], configFile: nil) }
            == "--domain-type: \"xen\" is not one of auto, kvm, qemu")
        #expect(message { try AgentConfiguration.resolve(flags: [:], environment: ["ZEDGE_AGENT_IMAGE_CACHE_BYTES": "lots"], configFile: nil) }
            .hasPrefix("ZEDGE_AGENT_IMAGE_CACHE_BYTES: \"lots\""))
        let dir = try makeTestDirectory("agent-config-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.json").path
        try #"{"domaintype": "kvm"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(message { try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file) }.contains("unknown key \"domaintype\""))
        try "[1]".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(message { try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file) }.contains("not a JSON object"))
    }

    @Test func byteSizes() {
        #expect(AgentConfiguration.parseBytes("1234") == 1234)
        #expect(AgentConfiguration.parseBytes("512K") == 512 << 10)
        #expect(AgentConfiguration.parseBytes("20g") == 20 << 30)
        #expect(AgentConfiguration.parseBytes("20GiB") == 20 << 30)
        #expect(AgentConfiguration.parseBytes("20GB") == 20 << 30)
        #expect(AgentConfiguration.parseBytes("100B") == 100)
        #expect(AgentConfiguration.parseBytes("0") == 0)
        for bad in ["", "G", "-1", "1.5G", "12X", "9999999999T", "1 G"] {
            #expect(AgentConfiguration.parseBytes(bad) == nil, "\(bad)")
        }
    }

    /// Two valid values per key, each different from the default, for the precedence test.
    static let samples: [AgentConfiguration.Key: (String, String)] = [
        .stateDir: ("/srv/zedge-a", "/srv/zedge-b"),
        .libvirtUri: ("test:///default", "qemu+ssh://h/system"),
        .cpuMode: ("host-model", "default"),
        .cloudboxDir: ("/etc/box-a", "/etc/box-b"),
        .domainType: ("kvm", "qemu"),
        .imageCacheBytes: ("1G", "3T"),
        .imageDownloadBytesPerSecond: ("10M", "512K"),
        .integrationBridge: ("br-a", "br-b"),
        .logLevel: ("debug", "error"),
    ]

    @Test func everyKeyComesFromItsFlagElseEnvironmentElseFileElseDefault() throws {
        #expect(Set(Self.samples.keys) == Set(AgentConfiguration.Key.allCases))
        let dir = try makeTestDirectory("agent-config-all")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.json").path
        for key in AgentConfiguration.Key.allCases {
            let (a, b) = try #require(Self.samples[key])
            try String(decoding: JSONEncoder().encode([key.rawValue: a]), as: UTF8.self).write(toFile: file, atomically: true, encoding: .utf8)
            let defaults = AgentConfiguration()
            #expect(try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: nil).value(of: key) == key.defaultValue)
            #expect(try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file).value(of: key) == a, "\(key)")
            #expect(try AgentConfiguration.resolve(flags: [:], environment: [key.environmentVariable: b], configFile: file).value(of: key) == b, "\(key)")
            #expect(try AgentConfiguration.resolve(flags: [key: a], environment: [key.environmentVariable: b], configFile: file).value(of: key) == a, "\(key)")
            // One key set leaves the others at their defaults.
            let fromFile = try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file)
            for other in AgentConfiguration.Key.allCases where other != key {
                #expect(fromFile.value(of: other) == defaults.value(of: other), "\(key) changed \(other)")
            }
        }
    }

    @Test func logLevelIsASetting() throws {
        #expect(AgentConfiguration().logLevel == .info)
        #expect(try AgentConfiguration.resolve(flags: [:], environment: ["ZEDGE_AGENT_LOG_LEVEL": "trace"], configFile: nil).logLevel == .trace)
        #expect(try AgentConfiguration.resolve(flags: [.logLevel: "warning"], environment: ["ZEDGE_AGENT_LOG_LEVEL": "trace"], configFile: nil).logLevel
            == .warning)
        #expect(throws: AgentError.self) { try AgentConfiguration.resolve(flags: [.logLevel: "loud"], environment: [:], configFile: nil) }
        #expect(AgentConfiguration.Key.logLevel.flag == "--log-level")
        #expect(AgentConfiguration.Key.logLevel.environmentVariable == "ZEDGE_AGENT_LOG_LEVEL")
    }

    @Test func fileValuesMustBeStringsOrWholeNumbers() throws {
        let dir = try makeTestDirectory("agent-config-types")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.json").path
        func message(_ json: String) throws -> String {
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            do { _ = try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file); return "" } catch { return "\(error)" }
        }
        #expect(try message(#"{"imageCacheBytes": 1.5}"#) == "imageCacheBytes in \(file) must be a string or a whole number")
        #expect(try message(#"{"logLevel": true}"#) == "logLevel in \(file) must be a string or a whole number")
        #expect(try message(#"{"stateDir": ["/a"]}"#).hasPrefix("stateDir in"))
        #expect(try message("{not json").contains("not a JSON object"))
        #expect(try message(#"{"imageCacheBytes": 1073741824}"#) == "")
        #expect(try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: file).imageCacheBytes == 1 << 30)
        do {
            _ = try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: dir.appendingPathComponent("missing.json").path)
            Issue.record("a missing file was accepted")
        } catch {
            #expect("\(error)".hasPrefix("cannot read the config file"))
        }
    }

    /// agent/agent.example.json, which the .deb installs as /etc/zedge/agent.json: valid, every key, each at
    /// its default.
    @Test func theExampleFileHasEveryKeyAtItsDefault() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("agent/agent.example.json").path
        let keys = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: example))).objectValue?.keys)
        #expect(Set(keys) == Set(AgentConfiguration.Key.allCases.map(\.rawValue)))
        #expect(try AgentConfiguration.resolve(flags: [:], environment: [:], configFile: example) == AgentConfiguration())
    }

    @Test func sizesAreShownWithTheirLargestExactSuffix() {
        #expect(AgentConfiguration.formatBytes(20 << 30) == "20G")
        #expect(AgentConfiguration.formatBytes(1536 << 20) == "1536M")
        #expect(AgentConfiguration.formatBytes(1 << 40) == "1T")
        #expect(AgentConfiguration.formatBytes(1000) == "1000")
        #expect(AgentConfiguration.formatBytes(0) == "0")
        for n: Int64 in [1, 1023, 1024, 5 << 20, 7 << 40, (1 << 30) + 1] {
            #expect(AgentConfiguration.parseBytes(AgentConfiguration.formatBytes(n)) == n)
        }
        #expect(AgentConfiguration.Key.imageCacheBytes.defaultValue == "20G")
    }

    // MARK: The binary

    /// `zedge-agent run --help` names every key's file key, flag, environment variable and default.
    @Test func runHelpListsEveryKey() throws {
        let (status, output) = try Self.runAgent(["run", "--help"], environment: [:])
        #expect(status == 0)
        let text = output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for key in AgentConfiguration.Key.allCases {
            #expect(text.contains(key.flag + " <"), "\(key.flag)")
            #expect(text.contains("file: \(key.rawValue);"), "\(key)")
            #expect(text.contains("env: \(key.environmentVariable);"), "\(key)")
            #expect(text.contains("default: \(key.defaultValue))"), "\(key)")
        }
        #expect(text.contains("--config <config>"))
        let (registerStatus, registerHelp) = try Self.runAgent(["register", "--help"], environment: [:])
        #expect(registerStatus == 0)
        #expect(registerHelp.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("env: ZEDGE_AGENT_STATE_DIR;"))
    }

    /// A bad file stops the agent before anything else, with one line naming the key.
    @Test func aBadConfigFileStopsTheAgentWithOneLine() throws {
        let dir = try makeTestDirectory("agent-config-bad-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.json").path
        try #"{"stateDir": "/nonexistent", "logLevl": "debug"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try Self.runAgent(["run", "--config", file], environment: [:])
        #expect(status == 1)
        #expect(output.hasPrefix("zedge-agent: the config file \(file) has an unknown key \"logLevl\""), "\(output)")
        #expect(output.split(separator: "\n").count == 1, "\(output)")
        // `register` reads the same file, for a CloudBox too, before it contacts anyone.
        try #"{"stateDir": "", "logLevel": "debug"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let (registerStatus, registerOutput) = try Self.runAgent(
            ["register", "--config", file, "--kind", "cloud-box", "--coordinator", "https://127.0.0.1:1", "--token", "zet_x",
             "--ca-hash", "sha256:" + String(repeating: "0", count: 64)], environment: [:])
        #expect(registerStatus == 1)
        #expect(registerOutput == "zedge-agent: stateDir in \(file): \"\" is not a directory\n", "\(registerOutput)")
    }

    /// A real agent process on libvirt's test driver, started with `--config`: the state dir, libvirt URI, CPU
    /// mode and log level come from the file, the image cache's bound from the environment over the file, the
    /// bridge from a flag over both. The startup line shows those values, the agent heartbeats from the state dir
    /// the file named, and the debug level the file asked for is on.
    @Test func runReadsItsConfigFile() async throws {
        let binary = TaskLoopTests.agentExecutable()
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build zedge-agent first (swift build --build-tests)")
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("agent-config-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let stateDir = dir.appendingPathComponent("state").path
        try AgentState(coordinator: server.baseURL, kind: .computeMachine, agentId: UUID(), machineId: UUID(), cloudBoxId: nil,
                       heartbeatIntervalS: 1)
            .save(in: stateDir, credential: ImageTestServer.credential, caPEM: server.pki.caPEM)
        let file = dir.appendingPathComponent("agent.json").path
        let config: [String: String] = [
            "stateDir": stateDir, "libvirtUri": "test:///default", "cpuMode": "host-model", "logLevel": "debug",
            "imageCacheBytes": "1G", "integrationBridge": "br-file",
        ]
        try String(decoding: JSONEncoder().encode(config), as: UTF8.self).write(toFile: file, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("agent.log")
        let agent = try Self.startAgent(binary, ["run", "--config", file, "--integration-bridge", "br-flag"],
                                        environment: ["ZEDGE_AGENT_IMAGE_CACHE_BYTES": "2G"], log: log)
        defer {
            kill(agent.processIdentifier, SIGKILL)
            awaitTransportProcessExit(agent)
        }
        func text() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        let heartbeating = await server.waitUntil(timeout: .seconds(60)) { server.heartbeats().count >= 2 && text().contains("heartbeat sent") }
        #expect(heartbeating, "\(text().suffix(3000))")
        let startup = try #require(text().split(separator: "\n").first { $0.contains("zedge-agent starting") }, "\(text().suffix(3000))")
        for expected in ["stateDir=\(stateDir)", "libvirtUri=test:///default", "cpuMode=host-model", "logLevel=debug",
                         "imageCacheBytes=2G", "integrationBridge=br-flag", "configFile=\(file)", "domainType=auto",
                         "imageDownloadBytesPerSecond=0"] {
            #expect(startup.contains(expected), "\(expected) missing from: \(startup)")
        }
    }

    // MARK: Helpers

    /// The environment a test agent gets: PATH and HOME only, plus `extra` (no ZEDGE_AGENT_* of the test run's own).
    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME"].contains($0.key) }
        environment.merge(extra) { $1 }
        return environment
    }

    static func startAgent(_ binary: URL, _ arguments: [String], environment: [String: String], log: URL) throws -> SpawnedProcess {
        let process = SpawnedProcess()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = Self.environment(environment)
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Runs the agent to completion (it must exit by itself); its exit status and stdout+stderr.
    static func runAgent(_ arguments: [String], environment: [String: String]) throws -> (Int32, String) {
        let binary = TaskLoopTests.agentExecutable()
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build zedge-agent first (swift build --build-tests)")
        let dir = try makeTestDirectory("agent-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("out.log")
        let process = try startAgent(binary, arguments, environment: environment, log: log)
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
