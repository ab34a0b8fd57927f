import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct AuditTests {
    @Test(arguments: TestEngine.all)
    func mutationsLeaveSuccessDeniedAndFailedRows(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let tenant = try await c.createTenant("audited", token: admin)
            let (user, userToken, _) = try await c.createUser("auditee", role: .user, tenant: tenant.id, token: admin)

            // Refused: a USER creating a tenant (403), no credentials (401), a wrong password (401).
            #expect(try await c.client.post("/api/v1/tenants", token: userToken, ["name": "nope"]).status == 403)
            #expect(try await c.client.post("/api/v1/tenants", token: nil, ["name": "nope"]).status == 401)
            #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": "auditee", "password": "wrong-password"]).status == 401)
            // Failed: bad input.
            #expect(try await c.client.post("/api/v1/tenants", token: admin, ["name": ""]).status == 400)

            func entries(_ query: String) async throws -> [AuditLog] {
                let response = try await c.client.get("/api/v1/audit-logs?\(query)", token: admin)
                #expect(response.status == 200, "\(response.text)")
                return try response.decode(Page<AuditLog>.self).items
            }
            let created = try await entries("action=tenant.create&status=SUCCESS")
            #expect(created.count == 1)
            #expect(created.first?.resourceId == tenant.id)
            #expect(created.first?.resourceType == "TENANT")
            #expect(created.first?.ipAddress == "127.0.0.1")
            #expect(created.first?.userAgent == "zedge-tests")

            let denied = try await entries("action=tenant.create&status=DENIED")
            #expect(denied.count == 2)
            #expect(denied.contains { $0.userId == user.id })   // the authenticated refusal names its actor
            #expect(denied.contains { $0.userId == nil })       // the anonymous one is still recorded

            let deniedLogin = try await entries("action=auth.login&status=DENIED")
            #expect(deniedLogin.count == 1)
            #expect(deniedLogin.first?.userId == user.id)
            #expect(try await entries("action=tenant.create&status=FAILED").count == 1)

            // Filters: by user, by resource type, by time range.
            let byUser = try await entries("userId=\(user.id)")
            #expect(!byUser.isEmpty && byUser.allSatisfy { $0.userId == user.id })
            #expect(try await entries("resourceType=USER").allSatisfy { $0.resourceType == "USER" })
            #expect(try await entries("since=2999-01-01T00:00:00Z").isEmpty)
            #expect(try await entries("until=2000-01-01T00:00:00Z").isEmpty)
            #expect(try await c.client.get("/api/v1/audit-logs?since=yesterday", token: admin).problemFields == ["since"])
            let backwards = try await c.client.get("/api/v1/audit-logs?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", token: admin)
            #expect(backwards.status == 422 && backwards.problemFields == ["until"], "\(backwards.text)")
            #expect(try await entries("since=2000-01-01T00:00:00Z&until=2000-01-01T00:00:00Z").isEmpty, "an instant is a window")

            // Details never carry secrets: no password, no token.
            let all = try await c.client.get("/api/v1/audit-logs?limit=500", token: admin).text
            #expect(!all.contains("wrong-password"))
            #expect(!all.contains(TestCoordinator.adminPassword))
        }
    }

    /// The router reads `//api/v1/tenants` as `/api/v1/tenants`: so do the audit and the credential checks. A path
    /// spelled with extra slashes leaves its audit row (a create, a failed login) and takes the credentials of the
    /// route it reaches (a trial found both skipped).
    @Test(arguments: TestEngine.all)
    func extraSlashesReachNoRouteUnaudited(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let created = try await c.client.post("//api/v1/tenants", token: admin, ["name": "slashed"])
            #expect(created.status == 201, "\(created.text)")
            #expect(try await c.client.post("//api/v1//auth/login/", token: nil, ["username": "admin", "password": "wrong-password"]).status == 401)
            func entries(_ query: String) async throws -> [AuditLog] {
                try await c.client.get("/api/v1/audit-logs?\(query)", token: admin).decode(Page<AuditLog>.self).items
            }
            let rows = try await entries("action=tenant.create&status=SUCCESS")
            #expect(rows.map(\.resourceId) == [try created.decode(Tenant.self).id], "\(rows)")
            #expect(try await entries("action=auth.login&status=DENIED").count == 1)

            // An agent credential on a spelling of an agent route is an agent's call, not a refused /api one.
            let f = try await AgentProtocolTests.Fixture.make(c)
            let agent = try await f.register(try await f.token()).decode(RegisterResponse.self)
            let polled = try await c.client.get("//agent/v1//tasks/?wait=1", token: agent.credential)
            #expect(polled.status == 200, "\(polled.text)")
            #expect(try polled.decode(TaskPollResponse.self).tasks.isEmpty)
        }
    }

    @Test func routedPathsAreCanonical() {
        for (raw, canonical) in [
            ("/", "/"), ("/api/v1/tenants", "/api/v1/tenants"), ("//api/v1/tenants", "/api/v1/tenants"),
            ("/api//v1/tenants/", "/api/v1/tenants"), ("/agent/v1/tasks/", "/agent/v1/tasks"), ("//", "/"),
        ] {
            #expect(RoutedPath.canonical(raw) == canonical, "\(raw)")
        }
    }

    @Test(arguments: TestEngine.all)
    func tenantAdminsReadOnlyTheirTenantsAuditRows(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let a = try await c.createTenant("audit-a", token: admin)
            let b = try await c.createTenant("audit-b", token: admin)
            let (adminA, tokenA, _) = try await c.createUser("ta-a", role: .tenantAdmin, tenant: a.id, token: admin)
            let (_, tokenB, _) = try await c.createUser("ta-b", role: .tenantAdmin, tenant: b.id, token: admin)
            #expect(try await c.client.patch("/api/v1/tenants/\(a.id)", token: tokenA, ["description": "A's"]).status == 200)
            #expect(try await c.client.patch("/api/v1/tenants/\(b.id)", token: tokenB, ["description": "B's"]).status == 200)

            let seen = try await c.client.get("/api/v1/audit-logs?limit=500", token: tokenA).decode(Page<AuditLog>.self).items
            #expect(!seen.isEmpty)
            #expect(seen.allSatisfy { $0.tenantId == a.id })
            #expect(seen.contains { $0.action == "tenant.update" && $0.userId == adminA.id })
            // Asking for the other tenant's rows by filter changes nothing.
            let forced = try await c.client.get("/api/v1/audit-logs?action=tenant.update", token: tokenA).decode(Page<AuditLog>.self).items
            #expect(forced.allSatisfy { $0.tenantId == a.id })
        }
    }
}
