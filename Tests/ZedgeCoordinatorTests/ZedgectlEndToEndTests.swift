import Foundation
import ZedgeTestSupport
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// `zedgectl` as admins and technicians run it: the real binary, with HOME in a temporary directory, against a
/// real `zedge-coordinator serve` process over HTTPS with its self-made CA, and real `zedge-agent` processes on
/// libvirt's test driver.
@Suite("zedgectl end to end", .serialized)
struct ZedgectlEndToEndTests {
    typealias AgentProcess = AgentEndToEndTests.AgentProcess
    static let password = "zedgectl-admin-password"

    /// A coordinator process on a free port with a short access-token lifetime.
    final class Coordinator: @unchecked Sendable {  // Process is not Sendable; used from the test's task only.
        let process = SpawnedProcess()
        let directory: String
        let url: String
        let caPEM: String
        let caHash: String
        let client: APIClient

        init(accessTokenSeconds: Int = 900) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedgectl-e2e-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let port = try await ProcessRunner.startCoordinator(
                process, arguments: ["--listen", "127.0.0.1:0", "--data-dir", directory + "/coordinator"],
                environment: ["ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": ZedgectlEndToEndTests.password,
                              "ZEDGE_ACCESS_TOKEN_TTL_SECONDS": String(accessTokenSeconds)])
            url = "https://127.0.0.1:\(port)"
            caPEM = try String(contentsOfFile: directory + "/coordinator/tls/ca.pem", encoding: .utf8)
            caHash = try TLSMaterial.fingerprint(ofPEM: caPEM)
            client = try APIClient(baseURL: url, caPEM: caPEM)
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let response = try? await client.get("/readyz", token: nil), response.status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("the coordinator at \(url) did not become ready")
        }

        /// Audit rows with this action (as the admin).
        func auditCount(_ action: String, admin: String) async throws -> Int {
            let page = try await client.get("/api/v1/audit-logs?action=\(action)&limit=500", token: admin).json()
            return (page["items"] as? [Any])?.count ?? -1
        }

        func stop() async {
            try? await client.shutdown()
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// The zedgectl binary with its own HOME (so its ~/.config/zedge is the test's).
    struct Ctl {
        let home: String

        struct Result {
            let status: Int32
            let stdout: String
            let stderr: String
        }

        /// Runs zedgectl; `stdin` is written to its standard input (then closed).
        func callAsFunction(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) async throws -> Result {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    do {
                        let process = SpawnedProcess()
                        process.executableURL = ProcessRunner.executable("zedgectl")
                        process.arguments = arguments
                        var env = ProcessInfo.processInfo.environment
                        for key in ["ZEDGE_URL", "ZEDGE_TOKEN", "ZEDGE_CA_HASH"] { env[key] = nil }
                        env["HOME"] = home
                        process.environment = env.merging(environment) { $1 }
                        let input = Pipe(), out = Pipe(), err = Pipe()
                        process.standardInput = input
                        process.standardOutput = out
                        process.standardError = err
                        try process.run()
                        input.fileHandleForWriting.write(Data(stdin.utf8))
                        try input.fileHandleForWriting.close()
                        let stdout = out.fileHandleForReading.readDataToEndOfFile()
                        let stderr = err.fileHandleForReading.readDataToEndOfFile()
                        process.waitUntilExit()
                        continuation.resume(returning: Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                                              stderr: String(decoding: stderr, as: UTF8.self)))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }

        /// Runs zedgectl and requires exit 0.
        @discardableResult
        func ok(_ arguments: [String], stdin: String = "") async throws -> Result {
            let result = try await self(arguments, stdin: stdin)
            guard result.status == 0 else {
                throw TestFailure("zedgectl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
            }
            return result
        }

        var credentialsPath: String { home + "/.config/zedge/credentials.json" }

        func credentials() throws -> [String: Any] {
            let data = try Data(contentsOf: URL(fileURLWithPath: credentialsPath))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }

        func refreshToken(_ context: String) throws -> String? {
            ((try credentials()["contexts"] as? [String: Any])?[context] as? [String: Any])?["refreshToken"] as? String
        }
    }

    static func makeHome() throws -> String {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("zedgectl-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return home
    }

    static func json(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// The access tokens' lifetime in `loginRefreshesByItselfAndLogoutRevokes`: long enough for a login and two
    /// commands under a loaded CI machine (10 s was not: ci41's `whoami` came more than 8 s after the login, inside
    /// the CLI's 2 s margin, and refreshed), short enough to wait out twice.
    static let accessTokenSeconds = 25

    @Test func loginRefreshesByItselfAndLogoutRevokes() async throws {
        let coordinator = try await Coordinator(accessTokenSeconds: Self.accessTokenSeconds)
        let home = try Self.makeHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let ctl = Ctl(home: home)
        do {
            // The test's own eyes: an API key (access tokens last `accessTokenSeconds` here).
            let login = try await coordinator.client.login("admin", Self.password).accessToken
            let admin = try #require(try await coordinator.client.post("/api/v1/api-keys", token: login, ["name": "test"]).json()["key"] as? String)

            // A wrong CA hash: refused before the password is read or sent; the coordinator saw no login.
            let loginsBefore = try await coordinator.auditCount("auth.login", admin: admin)
            let wrong = try await ctl(["login", "--url", coordinator.url, "--ca-hash", "sha256:" + String(repeating: "0", count: 64),
                                       "--username", "admin", "--password-stdin"], stdin: Self.password + "\n")
            #expect(wrong.status == 1)
            #expect(wrong.stderr.contains("does not match --ca-hash"), "\(wrong.stderr)")
            #expect(wrong.stderr.split(separator: "\n").count == 1, "\(wrong.stderr)")
            #expect(try await coordinator.auditCount("auth.login", admin: admin) == loginsBefore)
            #expect(!FileManager.default.fileExists(atPath: ctl.credentialsPath))

            // Login: the context and the refresh token, the credentials 0600 in a 0700 directory.
            let loggedIn = try await ctl.ok(["login", "--url", coordinator.url, "--ca-hash", coordinator.caHash, "--username", "admin",
                                             "--password-stdin", "--context", "e2e"], stdin: Self.password + "\n")
            let loggedInBy = ContinuousClock.now  // the login's access token was issued before this
            #expect(loggedIn.stderr.contains("Logged in to \(coordinator.url) as admin"))
            #expect(try await coordinator.auditCount("auth.login", admin: admin) == loginsBefore + 1)
            let mode = try FileManager.default.attributesOfItem(atPath: ctl.credentialsPath)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let directoryMode = try FileManager.default.attributesOfItem(atPath: home + "/.config/zedge")[.posixPermissions] as? NSNumber
            #expect(directoryMode?.intValue == 0o700)
            let contexts = try await ctl.ok(["context", "list"])
            #expect(contexts.stdout.contains("e2e") && contexts.stdout.contains(coordinator.url))
            let first = try #require(try ctl.refreshToken("e2e"))

            // The access token from the login works while it lasts: no refresh.
            let refreshesBefore = try await coordinator.auditCount("auth.refresh", admin: admin)
            let me = try await ctl.ok(["whoami", "-o", "json"])
            #expect(try Self.json(me.stdout)["username"] == "admin")
            #expect(try ctl.refreshToken("e2e") == first)

            // It expires: the next commands refresh by themselves, once for four of them at the same time
            // (a second use of one refresh token would revoke the session), and the rotated refresh token is kept.
            try await Task.sleep(until: loggedInBy + .seconds(Self.accessTokenSeconds + 1))
            let together = try await withThrowingTaskGroup(of: Ctl.Result.self) { group in
                for _ in 0..<4 { group.addTask { try await ctl(["tenant", "list"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let refreshedBy = ContinuousClock.now
            #expect(together.allSatisfy { $0.status == 0 }, "\(together.map(\.stderr))")
            let second = try #require(try ctl.refreshToken("e2e"))
            #expect(second != first)
            #expect(try await coordinator.auditCount("auth.refresh", admin: admin) == refreshesBefore + 1)

            // An access token the coordinator refuses (expired, though the file says otherwise): a 401, one
            // refresh, the request again.
            var file = try ctl.credentials()
            var entries = try #require(file["contexts"] as? [String: Any])
            var entry = try #require(entries["e2e"] as? [String: Any])
            entry["accessTokenExpiresAt"] = "2100-01-01T00:00:00Z"
            entries["e2e"] = entry
            file["contexts"] = entries
            try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: ctl.credentialsPath))
            try await Task.sleep(until: refreshedBy + .seconds(Self.accessTokenSeconds + 1))
            try await ctl.ok(["tenant", "list"])
            let third = try #require(try ctl.refreshToken("e2e"))
            #expect(third != second)
            #expect(try await coordinator.auditCount("auth.refresh", admin: admin) == refreshesBefore + 2)

            // Logout revokes: the refresh token is refused afterwards, and forgotten.
            let logout = try await ctl.ok(["logout"])
            #expect(logout.stderr.contains("Logged out"))
            #expect(try ctl.refreshToken("e2e") == nil)
            let reused = try await coordinator.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": third])
            #expect(reused.status == 401)
            let after = try await ctl(["tenant", "list"])
            #expect(after.status == 1)
            // Said before any request: nothing is sent without a token.
            #expect(after.stderr == "error: not logged in to e2e: run `zedgectl login`\n", "\(after.stderr)")
            // A usage error (ArgumentParser's) begins as every other error does.
            let usage = try await ctl(["tenant", "show"])
            #expect(usage.status != 0 && usage.stderr.hasPrefix("error: ") && usage.stderr.contains("Usage:"), "\(usage.stderr)")

            // A login into another context makes it current, and says so; logging in again to it does not repeat that.
            let elsewhere = try await ctl.ok(["login", "--url", coordinator.url, "--ca-hash", coordinator.caHash, "--username", "admin",
                                              "--password-stdin", "--context", "other"], stdin: Self.password + "\n")
            #expect(elsewhere.stderr.contains("(context \"other\"; it is now the current context (was \"e2e\"))"), "\(elsewhere.stderr)")
            let again = try await ctl.ok(["login", "--username", "admin", "--password-stdin"], stdin: Self.password + "\n")
            #expect(again.stderr.contains("(context \"other\").") && !again.stderr.contains("now the current"), "\(again.stderr)")
        } catch {
            await coordinator.stop()
            throw error
        }
        await coordinator.stop()
    }

    @Test func adminAndTechnicianWorkTheFleet() async throws {
        let coordinator = try await Coordinator()
        let home = try Self.makeHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let ctl = Ctl(home: home)
        var agents: [AgentProcess] = []
        defer { for agent in agents { agent.stop() } }
        do {
            let admin = try await coordinator.client.login("admin", Self.password).accessToken
            try await ctl.ok(["login", "--url", coordinator.url, "--ca-hash", coordinator.caHash, "--username", "admin", "--password-stdin"],
                             stdin: Self.password + "\n")

            // A tenant: -o json is the API's own JSON.
            let created = try await ctl.ok(["tenant", "create", "--name", "acme", "--description", "Acme edge", "--set", "quotaConfig.instances=20",
                                            "-o", "json"])
            let tenant = try Self.json(created.stdout)
            let tenantId = try #require(tenant["id"]?.stringValue)
            let apiTenant = try await coordinator.client.get("/api/v1/tenants/\(tenantId)", token: admin)
            #expect(try Self.json(created.stdout) == (try Self.json(apiTenant.text)))
            let shown = try await ctl.ok(["tenant", "show", "acme", "-o", "json"])
            #expect(try Self.json(shown.stdout) == (try Self.json(apiTenant.text)))
            let listed = try await ctl.ok(["tenant", "list", "-o", "json"])
            let apiList = try await coordinator.client.get("/api/v1/tenants", token: admin)
            #expect(try Self.json(listed.stdout) == (try Self.json(apiList.text)))
            let table = try await ctl.ok(["tenant", "list"])
            #expect(table.stdout.hasPrefix("ID ") && table.stdout.contains("acme") && table.stdout.contains("ACTIVE"))

            // A user in it (password from stdin, tenant by name).
            let user = try await ctl.ok(["user", "create", "--username", "alice", "--email", "alice@acme.example", "--role", "TENANT_ADMIN",
                                         "--tenant", "acme", "--password-stdin", "-o", "json"], stdin: "correct-horse-9\n")
            #expect(try Self.json(user.stdout)["tenantId"]?.stringValue == tenantId)
            _ = try await coordinator.client.login("alice", "correct-horse-9")

            // A 4xx: the problem's detail on stderr, exit 1; field errors on the second line.
            let duplicate = try await ctl(["tenant", "create", "--name", "acme"])
            #expect(duplicate.status == 1)
            #expect(duplicate.stdout.isEmpty)
            #expect(duplicate.stderr.hasPrefix("error: ") && duplicate.stderr.contains("(HTTP 409)"), "\(duplicate.stderr)")
            let invalid = try await ctl(["tenant", "create", "--name", "bad", "--set", "bogus=1"])
            #expect(invalid.status == 1)
            let lines = invalid.stderr.split(separator: "\n")
            #expect(lines.count == 2 && lines[0].contains("(HTTP 400)") && lines[1].contains("bogus"), "\(invalid.stderr)")
            let missing = try await ctl(["tenant", "show", "no-such-tenant"])
            #expect(missing.status == 1 && missing.stderr.contains("no tenant with name \"no-such-tenant\""), "\(missing.stderr)")

            // Infrastructure by name, and a compute machine enrolled with the printed command.
            try await ctl.ok(["dc", "create", "--name", "edge-1", "--location", "Lab"])
            try await ctl.ok(["pool", "create", "--name", "pool-1", "--dc", "edge-1"])
            let enroll = try await ctl.ok(["machine", "enroll", "--dc", "edge-1", "--pool", "pool-1"])
            let machineLine = enroll.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(machineLine.hasPrefix("zedge-agent register --kind compute-machine --coordinator \(coordinator.url) --token zet_"))
            #expect(machineLine.hasSuffix("--ca-hash \(coordinator.caHash)"))
            let machineState = coordinator.directory + "/machine"
            let machineWords = machineLine.split(separator: " ").map(String.init)
            let registered = try await ProcessRunner.run("zedge-agent", Array(machineWords.dropFirst()) + [
                "--state-dir", machineState, "--libvirt-uri", "test:///default", "--management-ip", "198.51.100.70", "--hostname", "ctl-host",
            ])
            try #require(registered.status == 0, "\(registered.stderr)")
            agents.append(try AgentProcess(stateDir: machineState))
            // ACTIVE from its registration; placement also wants its first heartbeat (a loaded run once placed before it).
            try await eventually("the machine is ACTIVE and has sent a heartbeat") {
                let machines = try Self.json(try await ctl.ok(["machine", "list", "-o", "json"]).stdout)
                return machines["items"]?[0]?["status"]?.stringValue == "ACTIVE" && machines["items"]?[0]?["lastHeartbeat"]?.stringValue != nil
            }

            // A template, then an instance with --wait: exit 0, the operation's steps and percent on stderr.
            try await ctl.ok(["template", "create", "--name", "tiny", "--visibility", "PUBLIC", "--cpu", "1", "--memory-gb", "1", "--storage-gb", "1"])
            let instance = try await ctl(["instance", "create", "--name", "web-1", "--template", "tiny", "--tenant", "acme", "--wait",
                                          "--poll-interval", "0.2", "-o", "json"])
            #expect(instance.status == 0, "\(instance.stderr)")
            let progress = instance.stderr.split(separator: "\n").map(String.init)
            #expect(progress.first?.hasPrefix("instance.create: ") == true, "\(instance.stderr)")
            #expect(progress.last == "instance.create: vm.create 100% SUCCEEDED", "\(instance.stderr)")
            #expect(progress.allSatisfy { $0.range(of: #"^instance\.create: [a-z.]+ \d+% [A-Z]+$"#, options: .regularExpression) != nil },
                    "\(instance.stderr)")
            let running = try Self.json(instance.stdout)
            #expect(running["status"] == "RUNNING" && running["name"] == "web-1")
            let apiInstance = try await coordinator.client.get("/api/v1/instances/\(try #require(running["id"]?.stringValue))", token: admin)
            #expect(try Self.json(apiInstance.text)["status"] == "RUNNING")
            let stopped = try await ctl(["instance", "stop", "web-1", "--wait", "--poll-interval", "0.2", "-o", "json"])
            #expect(stopped.status == 0, "\(stopped.stderr)")
            #expect(try Self.json(stopped.stdout)["status"] == "STOPPED")
            // Without --wait: the 202 answer (instance and operation) and where to follow it.
            let started = try await ctl.ok(["instance", "start", "web-1", "-o", "json"])
            let operationId = try #require(try Self.json(started.stdout)["operation"]?["id"]?.stringValue)
            #expect(started.stderr.contains("zedgectl operation wait \(operationId)"))
            try await ctl.ok(["operation", "wait", operationId, "--poll-interval", "0.2"])
            // In a table, an action without --wait shows the instance (one table, not JSON lines).
            let restarted = try await ctl.ok(["instance", "restart", "web-1"])
            let rows = restarted.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(rows.contains(["name", "web-1"]) && rows.contains { $0.first == "desiredStatus" && $0.last == "RUNNING" } && !restarted.stdout.contains("\"operation\""),
                    "\(restarted.stdout)")
            let restartId = try #require(restarted.stderr.split(separator: " ").dropFirst().first.map(String.init), "\(restarted.stderr)")
            try await ctl.ok(["operation", "wait", restartId, "--poll-interval", "0.2"])
            // An action the instance's state forbids is a 409 with the API's detail.
            let again = try await ctl(["instance", "start", "web-1"])
            #expect(again.status == 1 && again.stderr.contains("(HTTP 409)"), "\(again.stderr)")
            // A delete waited for says so, as a delete answered at once does: no operation table.
            let instanceId = try #require(running["id"]?.stringValue)
            let deleted = try await ctl.ok(["instance", "delete", "web-1", "--wait", "--poll-interval", "0.2"])
            #expect(deleted.stdout.isEmpty && deleted.stderr.hasSuffix("instance \(instanceId) deleted\n"), "\(deleted.stdout)\(deleted.stderr)")

            // The technician: pre-register a CloudBox, run the printed line on "the box", and it comes ONLINE.
            let register = try await ctl.ok(["cloudbox", "register", "--serial", "CB-0042", "--dc", "edge-1", "--location", "Shop 3",
                                             "--model", "ZB-1"])
            let boxLine = register.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!boxLine.contains("\n"))
            #expect(boxLine.hasPrefix("zedge-agent register --kind cloud-box --coordinator \(coordinator.url) --token zet_"), "\(boxLine)")
            #expect(boxLine.contains("--ca-hash \(coordinator.caHash)"))
            let token = try #require(try Self.json(try await coordinator.client.get("/api/v1/enrollment-tokens", token: admin).text)["items"]?
                .arrayValue?.last)
            #expect(token["kind"] == "CLOUD_BOX" && token["usesLeft"] == 1)
            let boxState = coordinator.directory + "/box"
            let boxWords = boxLine.split(separator: " ").map(String.init)
            let boxRegistered = try await ProcessRunner.run("zedge-agent", Array(boxWords.dropFirst()) + ["--state-dir", boxState])
            try #require(boxRegistered.status == 0, "\(boxRegistered.stderr)")
            agents.append(try AgentProcess(stateDir: boxState, arguments: ["--cloudbox-dir", coordinator.directory + "/cloudbox"]))
            try await eventually("the CloudBox is ONLINE") {
                let box = try Self.json(try await ctl.ok(["cloudbox", "show", "CB-0042", "-o", "json"]).stdout)
                return box["status"] == "ONLINE" && box["location"] == "Shop 3" && box["model"] == "ZB-1"
            }
            // The token was single-use.
            let reused = try await ProcessRunner.run("zedge-agent", Array(boxWords.dropFirst()) + ["--state-dir", boxState + "-again"])
            #expect(reused.status != 0)

            // An image file, streamed up with bytes and rate on stderr; the version then holds its SHA-256.
            try await ctl.ok(["image", "create", "--name", "blank", "--type", "OS_BASE", "--visibility", "PUBLIC"])
            try await ctl.ok(["image", "version", "create", "blank", "--version-number", "1.0"])
            let file = coordinator.directory + "/blank.raw"
            let bytes = Data((0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try bytes.write(to: URL(fileURLWithPath: file))
            let upload = try await ctl(["image", "upload", "blank", "1.0", file, "-o", "json"])
            #expect(upload.status == 0, "\(upload.stderr)")
            #expect(try Self.json(upload.stdout)["checksumSha256"]?.stringValue == SHA256Hex.of(bytes))
            let uploadLines = upload.stderr.split(separator: "\n").map(String.init)
            #expect(uploadLines.contains { $0.hasPrefix("uploading 1.0 MiB / 2.0 MiB (50%, ") && $0.hasSuffix("/s)") }, "\(upload.stderr)")
            #expect(uploadLines.last?.hasPrefix("uploading 2.0 MiB / 2.0 MiB (100%, ") == true, "\(upload.stderr)")
            let copy = coordinator.directory + "/copy.raw"
            let download = try await ctl(["image", "download", "blank", "1.0", "-O", copy])
            #expect(download.status == 0, "\(download.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == bytes)
            #expect(download.stderr.contains("downloading 2.0 MiB / 2.0 MiB (100%, "), "\(download.stderr)")
            try await ctl.ok(["image", "version", "create", "blank", "--version-number", "2.0"])
            let noFile = try await ctl(["image", "download", "blank", "2.0", "-O", copy + "-none"])
            #expect(noFile.status == 1 && noFile.stderr.contains("error: ") && noFile.stderr.contains("(HTTP 4"), "\(noFile.stderr)")
            #expect(!FileManager.default.fileExists(atPath: copy + "-none"))
            let second = try await ctl(["image", "upload", "blank", "1.0", file])
            // Refused before any byte is sent: no progress line, the version's own hash named.
            #expect(second.status == 1 && second.stderr.hasPrefix("error: version 1.0 of blank has its file already (sha256 "),
                    "\(second.stderr)")
            #expect(!second.stderr.contains("uploading"), "\(second.stderr)")

            // No context at all: ZEDGE_URL, ZEDGE_CA_HASH and ZEDGE_TOKEN (an API key) are enough; a wrong hash is refused.
            let bare = Ctl(home: try Self.makeHome())
            defer { try? FileManager.default.removeItem(atPath: bare.home) }
            let key = try #require(try await coordinator.client.post("/api/v1/api-keys", token: admin, ["name": "ci"]).json()["key"] as? String)
            let fromEnvironment = try await bare(["tenant", "show", "acme", "-o", "json"],
                                                 environment: ["ZEDGE_URL": coordinator.url, "ZEDGE_CA_HASH": coordinator.caHash, "ZEDGE_TOKEN": key])
            #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
            #expect(try Self.json(fromEnvironment.stdout)["id"]?.stringValue == tenantId)
            let wrongPin = try await bare(["tenant", "list"], environment: [
                "ZEDGE_URL": coordinator.url, "ZEDGE_CA_HASH": "sha256:" + String(repeating: "1", count: 64), "ZEDGE_TOKEN": key])
            #expect(wrongPin.status == 1 && wrongPin.stderr.contains("does not match"), "\(wrongPin.stderr)")
            let unpinned = try await bare(["tenant", "list"], environment: ["ZEDGE_URL": coordinator.url, "ZEDGE_TOKEN": key])
            #expect(unpinned.status == 1 && unpinned.stderr.contains("ZEDGE_CA_HASH"), "\(unpinned.stderr)")

            // YAML and completion.
            let yaml = try await ctl.ok(["cloudbox", "show", "CB-0042", "-o", "yaml"])
            #expect(yaml.stdout.contains("serialNumber: CB-0042") && yaml.stdout.contains("status: ONLINE"))
            let bash = try await ctl.ok(["completion", "bash"])
            #expect(bash.stdout.contains("complete -o filenames -F _zedgectl zedgectl") && bash.stdout.contains("cloudbox"))
            let zsh = try await ctl.ok(["completion", "zsh"])
            #expect(zsh.stdout.hasPrefix("#compdef zedgectl"))
        } catch {
            for agent in agents { print(await agent.log().suffix(2000)) }
            await coordinator.stop()
            throw error
        }
        await coordinator.stop()
    }
}
