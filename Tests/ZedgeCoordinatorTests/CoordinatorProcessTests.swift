import AsyncHTTPClient
import Foundation
import ZedgeTestSupport
import NIOSSL
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// The `zedge-coordinator` binary as operators run it (DESIGN §9).
@Suite struct CoordinatorProcessTests {
    @Test func versionAndHelp() async throws {
        let version = try await ProcessRunner.run("zedge-coordinator", ["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ZedgeVersion.current)
        let help = try await ProcessRunner.run("zedge-coordinator", ["serve", "--help"])
        #expect(help.status == 0)
        for flag in ["--config", "--listen", "--data-dir", "--database", "--tls-cert", "--tls-key", "--insecure-http"] {
            #expect(help.stdout.contains(flag), "serve --help lacks \(flag)")
        }
    }

    @Test func badConfigurationFailsWithOneLine() async throws {
        let result = try await ProcessRunner.run("zedge-coordinator", ["serve", "--listen", "nonsense", "--data-dir", "/tmp/zedge-never"])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        #expect(lines.first?.hasPrefix("zedge-coordinator: --listen must be HOST:PORT") == true, "stderr: \(result.stderr)")
    }

    @Test func servesHTTPSAndStopsCleanlyOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-proc-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = SpawnedProcess()
        process.executableURL = ProcessRunner.executable("zedge-coordinator")
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", directory, "--log-level", "warning"]
        process.environment = ProcessInfo.processInfo.environment.merging(["ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": "process-test-password"]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The first line says where it listens; the next ones name the CA and its fingerprint.
        let printed = await ProcessRunner.read(out, until: "CA SHA-256", process: process)
        let port = try #require(printed.split(separator: "\n").first?.split(separator: ":").last.flatMap { Int($0) }, "printed: \(printed)")
        let caPEM = try String(contentsOfFile: "\(directory)/tls/ca.pem", encoding: .utf8)
        #expect(printed.contains(try TLSMaterial.fingerprint(ofPEM: caPEM)))
        #expect(!printed.contains("process-test-password"))

        let client = try APIClient(baseURL: "https://127.0.0.1:\(port)", caPEM: caPEM)
        #expect(try await client.get("/readyz", token: nil).status == 200)
        _ = try await client.login("admin", "process-test-password")
        try await client.shutdown()

        kill(process.processIdentifier, SIGTERM)
        let stopBy = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < stopBy { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "still running 30 s after SIGTERM")
        if !process.isRunning {
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
        }
        // Key material is private to the owner.
        for file in ["tls/ca-key.pem", "tls/server-key.pem", "keys/access-token-es256.pem"] {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(file)")[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file) has mode \(String(mode ?? 0, radix: 8))")
        }
    }

    /// `make run`: the dev coordinator brings up a local agent through the real enrollment path, which
    /// heartbeats; SIGTERM stops both.
    @Test func devModeRunsALocalAgentThatHeartbeats() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-dev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = SpawnedProcess()
        process.executableURL = ProcessRunner.executable("zedge-coordinator")
        process.arguments = ["dev", "--listen", "127.0.0.1:0", "--data-dir", directory, "--log-level", "warning"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": "dev-test-password", "ZEDGE_HEARTBEAT_INTERVAL_SECONDS": "1",
        ]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let deadline = ContinuousClock.now + .seconds(60)
        let printed = await ProcessRunner.read(out, until: "openapi.json", process: process)
        let pin = try TLSMaterial.fingerprint(ofPEM: try String(contentsOfFile: "\(directory)/tls/ca.pem", encoding: .utf8))
        #expect(printed.contains("  zedgectl login --url https://127.0.0.1:") && printed.contains(" --ca-hash \(pin) --username admin\n"), "\(printed)")
        let port = try #require(printed.split(separator: "\n").first?.split(separator: ":").last.flatMap { Int($0) }, "printed: \(printed)")
        let client = try APIClient(baseURL: "https://127.0.0.1:\(port)", caPEM: try String(contentsOfFile: "\(directory)/tls/ca.pem", encoding: .utf8))
        let token = try await client.login("admin", "dev-test-password").accessToken
        var machine: ComputeMachine?
        while ContinuousClock.now < deadline {
            machine = try await client.get("/api/v1/compute-machines", token: token).decode(Page<ComputeMachine>.self).items.first
            if machine?.lastHeartbeat != nil { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(machine?.lastHeartbeat != nil, "the local agent never heartbeated")
        #expect(machine?.managementIp == "127.0.0.1")
        #expect(printed.contains("curl -s --cacert"), "\(printed)")
        try await client.shutdown()

        kill(process.processIdentifier, SIGTERM)
        let stopBy = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < stopBy { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "still running 30 s after SIGTERM")
        if !process.isRunning { #expect(process.terminationStatus == 0) }
    }
}
