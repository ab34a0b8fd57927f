import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct AuthTests {
    @Test(arguments: TestEngine.all)
    func refreshRotatesAndReuseRevokesTheFamily(engine: TestEngine) async throws {
        // The coordinator's default lifetime (test coordinators are given a longer one).
        let lifetime = CoordinatorConfiguration(host: "127.0.0.1", port: 0, dataDirectory: "/nonexistent", databaseURL: "sqlite:///nonexistent").accessTokenLifetime
        #expect(lifetime == .seconds(900))
        try await TestCoordinator.with(engine, configure: { $0.accessTokenLifetime = lifetime }) { c in
            let first = try await c.client.login("admin", TestCoordinator.adminPassword)
            #expect(first.tokenType == "Bearer")
            #expect(first.expiresIn == 900)

            // Rotation: the old refresh token is spent, a new one is handed out, the access token works.
            let rotated = try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": first.refreshToken])
            #expect(rotated.status == 200)
            let second = try rotated.decode(TokenPair.self)
            #expect(second.refreshToken != first.refreshToken)
            #expect(try await c.client.get("/api/v1/auth/me", token: second.accessToken).status == 200)

            // Reuse of the spent token: refused, and the whole family (including `second`) is revoked.
            let reuse = try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": first.refreshToken])
            #expect(reuse.status == 401)
            #expect(try reuse.json()["detail"] as? String == "Refresh token reuse detected; every session of this login has been revoked.")
            let afterReuse = try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": second.refreshToken])
            #expect(afterReuse.status == 401)

            // Another login is a separate family and unaffected.
            let other = try await c.client.login("admin", TestCoordinator.adminPassword)
            #expect(try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": other.refreshToken]).status == 200)
        }
    }

    @Test(arguments: TestEngine.all)
    func concurrentRefreshOfOneTokenSucceedsExactlyOnce(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            for _ in 0..<3 {
                let pair = try await c.client.login("admin", TestCoordinator.adminPassword)
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": pair.refreshToken]).status
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == 200 }.count == 1, "statuses: \(statuses)")
                #expect(statuses.filter { $0 == 401 }.count == 7, "statuses: \(statuses)")
            }
        }
    }

    @Test(arguments: TestEngine.all)
    func logoutRevokesTheRefreshToken(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let pair = try await c.client.login("admin", TestCoordinator.adminPassword)
            #expect(try await c.client.post("/api/v1/auth/logout", token: nil, ["refreshToken": pair.refreshToken]).status == 204)
            #expect(try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": pair.refreshToken]).status == 401)
            // Unknown tokens are not distinguishable from known ones.
            #expect(try await c.client.post("/api/v1/auth/logout", token: nil, ["refreshToken": "zrt_nothing"]).status == 204)
        }
    }

    @Test(arguments: TestEngine.all)
    func failedLoginsAreRateLimitedPerUsernameAndAddress(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            // A window far longer than the test: on a loaded machine the bcrypt checks alone can take minutes.
            $0.loginLimits = .init(perUsername: 3, perAddress: 6, window: .seconds(86_400))
        }) { c in
            for _ in 0..<3 {
                #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": "admin", "password": "wrong-password"]).status == 401)
            }
            // The username is now limited, even with the right password.
            let limited = try await c.client.post("/api/v1/auth/login", token: nil, ["username": "admin", "password": TestCoordinator.adminPassword])
            #expect(limited.status == 429)
            let retryAfter = try #require(limited.headers.first(name: "Retry-After").flatMap { Int($0) })
            #expect(retryAfter > 0 && retryAfter <= 86_400)

            // Unknown usernames count against the address: 3 more failures reach its limit of 6.
            for name in ["ghost1", "ghost2", "ghost3"] {
                #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": name, "password": "whatever-pw"]).status == 401)
            }
            #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": "ghost4", "password": "whatever-pw"]).status == 429)
        }
    }

    @Test(arguments: TestEngine.all)
    func lockedAndInactiveUsersCannotLogInNorUseTokensOrKeys(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let tenant = try await c.createTenant("locks", token: admin)
            // INACTIVE is what a DELETE makes (SoftDeleteTests), never a status a PATCH sets.
            for status in [UserStatus.locked] {
                let (user, token, password) = try await c.createUser(
                    "user-\(status.rawValue.lowercased())", role: .user, tenant: tenant.id, token: admin)
                let key = try await c.client.post("/api/v1/api-keys", token: token, ["name": "k"]).json()["key"] as! String
                #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 200)

                #expect(try await c.client.patch("/api/v1/users/\(user.id)", token: admin, ["status": status.rawValue]).status == 200)
                #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": user.username, "password": password]).status == 401)
                #expect(try await c.client.get("/api/v1/auth/me", token: token).status == 401)
                #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 401)

                let inactive = try await c.client.patch("/api/v1/users/\(user.id)", token: admin, ["status": "INACTIVE"])
                #expect(inactive.status == 400 && inactive.problemFields == ["status"], "\(inactive.text)")
                // Reactivated: everything works again.
                #expect(try await c.client.patch("/api/v1/users/\(user.id)", token: admin, ["status": "ACTIVE"]).status == 200)
                #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 200)
            }
        }
    }

    @Test(arguments: TestEngine.all)
    func apiKeysAreShownOnceHashedAndRevocable(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let created = try await c.client.post("/api/v1/api-keys", token: admin, ["name": "ci"])
            #expect(created.status == 201)
            let body = try created.json()
            let key = try #require(body["key"] as? String)
            let prefix = try #require(body["prefix"] as? String)
            let id = try #require(body["id"] as? String)
            #expect(key.hasPrefix(prefix + "_"))
            #expect(created.headers.first(name: "Location") == "/api/v1/api-keys/\(id)")

            // Usable as a Bearer token; lastUsedAt is kept; the key itself is never shown again.
            #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 200)
            let read = try await c.client.get("/api/v1/api-keys/\(id)", token: admin)
            #expect(read.status == 200)
            #expect(try read.json()["key"] == nil)
            #expect(try read.json()["lastUsedAt"] != nil)
            #expect(!(try await c.client.get("/api/v1/api-keys", token: admin)).text.contains(key))

            // Stored as the SHA-256 of the key, not the key.
            let stored = try await storedColumn("key_hash", table: "api_keys", c)
            #expect(stored == [SecretToken.hash(key)])

            // Revoked: 401 from then on.
            #expect(try await c.client.delete("/api/v1/api-keys/\(id)", token: admin).status == 204)
            #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 401)

            // Expired keys are refused; a key in the past cannot be made.
            #expect(try await c.client.post("/api/v1/api-keys", token: admin, ["name": "old", "expiresAt": "2001-01-01T00:00:00Z"]).problemFields == ["expiresAt"])
            #expect(try await c.client.get("/api/v1/auth/me", token: "zak_00000000_notarealkey").status == 401)
        }
    }

    @Test(arguments: TestEngine.all)
    func passwordsAreStoredAsBcryptAndChangeable(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let tenant = try await c.createTenant("pw", token: admin)
            let (user, token, password) = try await c.createUser("pwuser", role: .user, tenant: tenant.id, token: admin)
            let hashes = try await storedColumn("password_hash", table: "users", c)
            #expect(hashes.count == 2)
            // bcrypt at cost 12 of the password's SHA-256 pre-hash (PasswordHasher).
            #expect(hashes.allSatisfy { $0.hasPrefix("sha256-bcrypt:$2b$12$") && !$0.contains(password) })

            #expect(try await c.client.patch("/api/v1/users/\(user.id)", token: token, ["password": "a-new-password-1"]).status == 200)
            #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": "pwuser", "password": password]).status == 401)
            _ = try await c.client.login("pwuser", "a-new-password-1")
        }
    }

    @Test(arguments: TestEngine.all)
    func restartKeepsUsersCAAndSigningKey(engine: TestEngine) async throws {
        var firstRun: (configuration: CoordinatorConfiguration, fingerprint: String?, token: String, userId: UUID)?
        // Keep the data dir across both runs (TestCoordinator.with deletes its own at the end).
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-restart-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = CoordinatorConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: directory,
            databaseURL: try await engine.makeDatabaseURL(in: directory),
            bootstrapAdminPassword: TestCoordinator.adminPassword, logLevel: .warning)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await TestCoordinator.run(configuration) { c in
            let admin = try await c.adminToken()
            let tenant = try await c.createTenant("persist", token: admin)
            let (user, token, _) = try await c.createUser("persisted", role: .user, tenant: tenant.id, token: admin)
            firstRun = (c.configuration, c.started.caFingerprint, token, user.id)
        }
        let before = try #require(firstRun)
        #expect(before.fingerprint?.hasPrefix("sha256:") == true)
        try await TestCoordinator.run(before.configuration) { c in
            // Same CA (the client of this run trusts only the CA it reads now, and the fingerprint matches).
            #expect(c.started.caFingerprint == before.fingerprint)
            // A token issued before the restart still verifies: same signing key, same user.
            let me = try await c.client.get("/api/v1/auth/me", token: before.token)
            #expect(me.status == 200)
            #expect(try me.decode(User.self).id == before.userId)
            // The admin was not re-created and still logs in with its password.
            #expect(try await c.client.get("/api/v1/users?role=ADMIN", token: try await c.adminToken()).decode(Page<User>.self).items.count == 1)
        }
    }

    /// A column's values read straight from the database (to check what is stored, not what is shown).
    func storedColumn(_ column: String, table: String, _ c: TestCoordinator) async throws -> [String] {
        try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: .init(label: "test")) { database in
            try await database.sql.raw("SELECT \(ident: column) AS value FROM \(ident: table)").all()
                .map { try $0.decode(column: "value", as: String.self) }
        }
    }
}
