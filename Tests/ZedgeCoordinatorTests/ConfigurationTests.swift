import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct ConfigurationTests {
    /// `make run` passes `--data-dir .zedge-dev`: the dev agent's state dir lives under it, and libvirt refuses
    /// relative paths, so the data dir is made absolute.
    @Test func aRelativeDataDirIsMadeAbsolute() {
        let configuration = CoordinatorConfiguration(dataDirectory: ".zedge-dev")
        #expect(configuration.dataDirectory == FileManager.default.currentDirectoryPath + "/.zedge-dev")
        #expect(CoordinatorConfiguration(dataDirectory: "/var/lib/zedge").dataDirectory == "/var/lib/zedge")
    }

    @Test func flagsOverrideEnvironmentOverrideFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-config-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"listen":"10.0.0.1:9000","dataDir":"/from/file","logLevel":"debug","bcryptCost":13,"healthCriticalCpuPercent":99,"reconcileIntervalSeconds":2}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let reader = try await CoordinatorConfiguration.reader(
            arguments: ["--listen", "127.0.0.1:7000"],
            environment: ["ZEDGE_DATA_DIR": "/from/env", "ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": "secret-password", "DATA_DIR": "/ignored",
                          "ZEDGE_HEALTH_WARNING_TEMPERATURE": "70", "ZEDGE_AGENT_CALL_TIMEOUT_SECONDS": "45"],
            configFile: file)
        let configuration = try CoordinatorConfiguration(reader: reader, defaultDataDirectory: "/default", devMode: false)
        #expect(configuration.agentCallTimeoutSeconds == 45)
        #expect(CoordinatorConfiguration(dataDirectory: "/d", agentCallTimeoutSeconds: 9999).agentCallTimeoutSeconds == 300, "at most 5 minutes")
        #expect(CoordinatorConfiguration(dataDirectory: "/d").agentCallTimeoutSeconds == 10)
        #expect(configuration.host == "127.0.0.1" && configuration.port == 7000)
        #expect(configuration.dataDirectory == "/from/env")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.bcryptCost == 13)
        #expect(configuration.bootstrapAdminPassword == "secret-password")
        #expect(configuration.effectiveDatabaseURL == "sqlite:///from/env/coordinator.db")
        #expect(configuration.healthThresholds.critical.cpuPercent == 99 && configuration.healthThresholds.warning.temperature == 70)
        #expect(configuration.healthThresholds.critical.memoryPercent == HealthThresholds().critical.memoryPercent)
        #expect(configuration.reconcileIntervalSeconds == 2)
    }

    @Test func refusesBadValuesWithAClearMessage() async throws {
        for (arguments, message) in [
            (["--listen", "nonsense"], "--listen must be HOST:PORT"),
            (["--bcrypt-cost", "4"], "bcryptCost must be between 12 and 31"),
            (["--tls-cert", "/x.pem"], "--tls-cert and --tls-key go together"),
        ] {
            let reader = try await CoordinatorConfiguration.reader(arguments: arguments, environment: [:], configFile: nil)
            #expect {
                try CoordinatorConfiguration(reader: reader, defaultDataDirectory: "/d", devMode: false)
            } throws: { error in
                "\(error)".hasPrefix(message)
            }
        }
    }
}
