import Foundation
import Testing
@testable import ZedgeCLI

@Suite struct SessionTests {
    static func temporaryStore() -> ConfigStore {
        ConfigStore(directory: FileManager.default.temporaryDirectory.appendingPathComponent("zedgectl-\(UUID().uuidString)/.config/zedge").path)
    }

    @Test func filesAreWrittenPrivately() throws {
        let store = Self.temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: store.directory) }
        try store.save(ConfigFile(currentContext: "a", contexts: ["a": .init(url: "https://h:8443", caHash: "sha256:00")]))
        try store.save(CredentialsFile(contexts: ["a": .init(refreshToken: "zrt_secret", accessToken: "x", accessTokenExpiresAt: Date(timeIntervalSince1970: 1e9))]))
        let attributes = try FileManager.default.attributesOfItem(atPath: store.credentialsPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: store.configPath)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: store.directory)[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        #expect(try store.loadConfig().contexts["a"]?.url == "https://h:8443")
        #expect(try store.loadCredentials().contexts["a"]?.refreshToken == "zrt_secret")
        #expect(!String(decoding: try Data(contentsOf: URL(fileURLWithPath: store.configPath)), as: UTF8.self).contains("zrt_secret"))
    }

    @Test func noCoordinatorIsAClearError() async throws {
        let store = Self.temporaryStore()
        await #expect(throws: CLIError.self) { try await Session.resolve(contextOverride: nil, environment: [:], store: store) }
        await #expect(throws: CLIError.self) { try await Session.resolve(contextOverride: "missing", environment: [:], store: store) }
        // https without a pin is refused; http only when written out (no CA then).
        await #expect(throws: CLIError.self) {
            try await Session.resolve(contextOverride: nil, environment: ["ZEDGE_URL": "https://127.0.0.1:1"], store: store)
        }
        let plain = try await Session.resolve(contextOverride: nil, environment: ["ZEDGE_URL": "http://127.0.0.1:1", "ZEDGE_TOKEN": "zak_x"], store: store)
        #expect(plain.caPEM == nil && plain.url == "http://127.0.0.1:1")
        #expect(try await plain.client.tokens.bearer() == "zak_x")
    }

    @Test func loopbackDetection() {
        #expect(Transport.isLoopback("http://127.0.0.1:8443") && Transport.isLoopback("http://localhost:1") && Transport.isLoopback("http://[::1]:8080"))
        #expect(!Transport.isLoopback("http://10.0.0.1:8443") && !Transport.isLoopback("http://example.com"))
        #expect(LoginCommand.defaultName(for: "https://coord.example:8443/") == "coord.example:8443")
    }
}
