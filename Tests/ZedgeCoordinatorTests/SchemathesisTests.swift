import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// schemathesis (`--checks all`, every phase, the stateful one following the document's links) against a real
/// coordinator over HTTPS, as an ADMIN and as a TENANT_ADMIN, with the configuration in `schemathesis.toml`: zero
/// failures (issue #15 item 2). `make test` installs it (scripts/schemathesis.sh) and names it in
/// `ZEDGE_SCHEMATHESIS`; without it this test fails, saying how to get it. Each run's JUnit report is kept in
/// `test-artifacts/schemathesis/<role>/`.
@Suite struct SchemathesisTests {
    /// Examples per operation and phase: enough to cross every rule, few enough for a few minutes a role.
    static let examples = ProcessInfo.processInfo.environment["ZEDGE_SCHEMATHESIS_EXAMPLES"] ?? "20"

    @Test(.timeLimit(.minutes(20)))
    func theAPIHoldsToItsDocument() async throws {
        let st = try #require(ProcessInfo.processInfo.environment["ZEDGE_SCHEMATHESIS"].flatMap { $0.isEmpty ? nil : $0 },
                              "ZEDGE_SCHEMATHESIS is not set: run `make test`, or export ZEDGE_SCHEMATHESIS=$(scripts/schemathesis.sh)")
        #expect(FileManager.default.isExecutableFile(atPath: st), "\(st) is not an executable")
        let root = LayeringScanner.packageRoot()
        // A coordinator of its own for each role: the ADMIN's run changes and deletes what it finds.
        for role in ["admin", "tenant-admin"] {
            try await TestCoordinator.with(.sqlite) { c in
                let ca = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-st-ca-\(UUID().uuidString).pem")
                try (c.started.caCertificatePEM ?? "").write(to: ca, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(at: ca) }

                var token = try await c.adminToken()
                if role == "tenant-admin" {
                    let tenant = try await c.createTenant("st-tenant", token: token)
                    token = try await c.createUser("st-tenant-admin", role: .tenantAdmin, tenant: tenant.id, token: token).token
                }
                // An API key, not an access token: a run may outlast a token's 15 minutes.
                let key = try await c.client.post("/api/v1/api-keys", token: token, ["name": "schemathesis"])
                try #require(key.status == 201, "API key for \(role): \(key.status) \(key.text)")
                let secret = try #require(try key.json()["key"] as? String)
                let reports = root.appendingPathComponent("test-artifacts/schemathesis/\(role)")
                try? FileManager.default.removeItem(at: reports)
                try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
                let run = try await ProcessRunner.system(st, [
                    "--config-file", root.appendingPathComponent("schemathesis.toml").path, "--no-color",
                    "run", "\(c.baseURL)/api/v1/openapi.json", "--tls-verify", ca.path,
                    "-H", "Authorization: Bearer \(secret)", "--checks", "all", "--max-examples", Self.examples, "--seed", "15",
                    "--report", "junit", "--report-dir", reports.path,
                ])
                try run.stdout.write(to: reports.appendingPathComponent("output.txt"), atomically: true, encoding: .utf8)
                let summary = run.stdout.components(separatedBy: "\n").suffix(40).joined(separator: "\n")
                #expect(run.status == 0, "schemathesis as \(role) exited \(run.status); its output is in \(reports.path)/output.txt:\n\(summary)\n\(run.stderr.suffix(2000))")
                #expect(run.stdout.contains("Tested: "), "schemathesis as \(role) tested nothing:\n\(summary)")
            }
        }
    }
}
