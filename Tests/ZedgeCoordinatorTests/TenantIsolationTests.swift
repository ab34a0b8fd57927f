import Foundation
import NIOHTTP1
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Cross-tenant isolation (DESIGN §3: "404 also for another tenant's object: never reveal that it exists").
/// Tenants A and B each have a TENANT_ADMIN, a USER, a group with that USER as member and an API key of
/// that USER; A's callers probe B's objects.
@Suite struct TenantIsolationTests {
    @Test(arguments: TestEngine.all)
    func tenantsAreIsolated(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { coordinator in
            let f = try await IsolationFixtures.make(coordinator)
            try await f.listsShowNothingOfB()
            try await f.directAccessToBIsNotFound()
            try await f.bIsUntouched()
            try await f.usersOfATenant()
        }
    }
}

struct IsolationFixtures {
    let client: APIClient
    let adminToken: String
    let tenantA: Tenant, tenantB: Tenant
    let adminA: MatrixCaller, userA: MatrixCaller  // A's TENANT_ADMIN and USER (signed in)
    let otherUserA: UUID               // a second USER of A
    let adminB: UUID, userB: MatrixCaller    // B's TENANT_ADMIN and USER
    let groupA: UserGroup, groupB: UserGroup
    let keyA: UUID, keyB: UUID

    /// Every identifier of B's; none may appear in anything A's callers are shown.
    var secretsOfB: [String] {
        [tenantB.id, adminB, userB.user.id, groupB.id, keyB].map(\.uuidString) + [tenantB.name, userB.user.username, "iso-b-admin"]
    }

    static func make(_ coordinator: TestCoordinator) async throws -> IsolationFixtures {
        let adminToken = try await coordinator.adminToken()
        let tenantA = try await coordinator.createTenant("tenant-a", token: adminToken)
        let tenantB = try await coordinator.createTenant("tenant-b", token: adminToken)
        let inA = MatrixFixtureFactory(client: coordinator.client, adminToken: adminToken, tenant: tenantA)
        let inB = MatrixFixtureFactory(client: coordinator.client, adminToken: adminToken, tenant: tenantB)
        func signedIn(_ name: String, _ role: UserRole, _ tenant: Tenant) async throws -> MatrixCaller {
            let created = try await coordinator.createUser(name, role: role, tenant: tenant.id, token: adminToken)
            return MatrixCaller(role: role, user: created.user, token: created.token)
        }
        let adminA = try await signedIn("iso-a-admin", .tenantAdmin, tenantA)
        let userA = try await signedIn("iso-a-user", .user, tenantA)
        let userB = try await signedIn("iso-b-user", .user, tenantB)
        let adminB = try await coordinator.client.post("/api/v1/users", token: adminToken, [
            "username": "iso-b-admin", "email": "iso-b-admin@example.com", "password": "b-admin-password",
            "role": "TENANT_ADMIN", "tenantId": tenantB.id.uuidString,
        ]).decode(User.self).id
        return IsolationFixtures(
            client: coordinator.client, adminToken: adminToken, tenantA: tenantA, tenantB: tenantB,
            adminA: adminA, userA: userA, otherUserA: try await inA.freshUser("iso-a-other"),
            adminB: adminB, userB: userB,
            groupA: try await inA.freshGroup(members: [userA]), groupB: try await inB.freshGroup(members: [userB]),
            keyA: try await inA.freshKey(for: userA), keyB: try await inB.freshKey(for: userB))
    }

    // MARK: Lists

    /// B's objects appear in no list of A's callers, not even when asked for by filter; A's own do appear
    /// (so the lists are not merely empty).
    func listsShowNothingOfB() async throws {
        let b = tenantB.id.uuidString, bUser = userB.user.id.uuidString
        let lists: [(MatrixCaller, String, mustContain: [UUID])] = [
            (adminA, "/api/v1/tenants", [tenantA.id]),
            (adminA, "/api/v1/tenants?status=ACTIVE", [tenantA.id]),
            (adminA, "/api/v1/tenants?tenantId=\(b)", []),
            (adminA, "/api/v1/users", [adminA.user.id, userA.user.id, otherUserA]),
            (adminA, "/api/v1/users?tenantId=\(b)", [adminA.user.id]),  // the filter is overridden by the scope
            (adminA, "/api/v1/users?role=TENANT_ADMIN", [adminA.user.id]),
            (adminA, "/api/v1/user-groups", [groupA.id]),
            (adminA, "/api/v1/user-groups?tenantId=\(b)", []),
            (adminA, "/api/v1/api-keys", []),
            (adminA, "/api/v1/api-keys?userId=\(bUser)", []),
            (adminA, "/api/v1/audit-logs", []),
            (adminA, "/api/v1/audit-logs?userId=\(bUser)", []),
            (adminA, "/api/v1/audit-logs?tenantId=\(b)", []),
            (userA, "/api/v1/tenants", [tenantA.id]),
            (userA, "/api/v1/users", [userA.user.id]),
            (userA, "/api/v1/users?tenantId=\(b)", []),  // id=self AND tenantId=B: nothing
            (userA, "/api/v1/user-groups", [groupA.id]),
            (userA, "/api/v1/user-groups?tenantId=\(b)", [groupA.id]),
            (userA, "/api/v1/api-keys", [keyA]),
            (userA, "/api/v1/api-keys?userId=\(bUser)", [keyA]),
        ]
        for (caller, path, mustContain) in lists {
            let response = try await client.get(path, token: caller.token)
            let label = "\(caller.user.username) GET \(path)"
            // A filter the route does not know is a 400; anything else must be a successful, scoped list.
            #expect([200, 400].contains(response.status), "\(label): \(response.status) \(response.text)")
            for secret in secretsOfB {
                #expect(!response.text.contains(secret), "\(label) reveals \(secret): \(response.text)")
            }
            guard response.status == 200 else { continue }
            let ids = try itemIds(response)
            for id in mustContain { #expect(ids.contains(id), "\(label) lacks \(id)") }
        }

        // The TENANT_ADMIN's audit log holds its tenant's rows only, while B's rows do exist (the ADMIN sees them).
        let logA = try await client.get("/api/v1/audit-logs?limit=500", token: adminA.token).decode(Page<AuditLog>.self)
        #expect(!logA.items.isEmpty && logA.items.allSatisfy { $0.tenantId == tenantA.id }, "\(logA.items.map(\.tenantId))")
        let logB = try await client.get("/api/v1/audit-logs?userId=\(bUser)", token: adminToken).decode(Page<AuditLog>.self)
        #expect(logB.items.contains { $0.tenantId == tenantB.id }, "B's user has no audit rows: the check above proves nothing")

        // A USER of A sees exactly itself, and a TENANT_ADMIN of A exactly A's users.
        #expect(try itemIds(try await client.get("/api/v1/users", token: userA.token)) == [userA.user.id])
        let usersOfA = try await client.get("/api/v1/users", token: adminA.token).decode(Page<User>.self).items
        #expect(Set(usersOfA.map(\.id)) == [adminA.user.id, userA.user.id, otherUserA])
    }

    // MARK: Direct access

    /// A's TENANT_ADMIN and USER get 404 on each of B's objects, for every method, exactly as for an id that
    /// exists nowhere (same status and problem body): reach is checked before the role's permission, so
    /// even a method the role may never use is a 404 outside its reach.
    func directAccessToBIsNotFound() async throws {
        let userBId = userB.user.id
        // route, B's ids, a body that would be valid on an object of the caller's own, expected for A's TENANT_ADMIN / USER
        let probes: [(APIRoute, [UUID], [String: Any]?, tenantAdmin: Int, user: Int)] = [
            (APIRoute(.GET, "/api/v1/tenants/{id}"), [tenantB.id], nil, 404, 404),
            (APIRoute(.PATCH, "/api/v1/tenants/{id}"), [tenantB.id], ["description": "x"], 404, 404),
            (APIRoute(.DELETE, "/api/v1/tenants/{id}"), [tenantB.id], nil, 404, 404),
            (APIRoute(.GET, "/api/v1/users/{id}"), [userBId], nil, 404, 404),
            (APIRoute(.GET, "/api/v1/users/{id}"), [adminB], nil, 404, 404),
            (APIRoute(.PATCH, "/api/v1/users/{id}"), [userBId], ["email": "new@example.com"], 404, 404),
            (APIRoute(.DELETE, "/api/v1/users/{id}"), [userBId], nil, 404, 404),
            (APIRoute(.GET, "/api/v1/user-groups/{id}"), [groupB.id], nil, 404, 404),
            (APIRoute(.PATCH, "/api/v1/user-groups/{id}"), [groupB.id], ["description": "x"], 404, 404),
            (APIRoute(.DELETE, "/api/v1/user-groups/{id}"), [groupB.id], nil, 404, 404),
            (APIRoute(.GET, "/api/v1/user-groups/{id}/members"), [groupB.id], nil, 404, 404),
            (APIRoute(.POST, "/api/v1/user-groups/{id}/members"), [groupB.id], ["userId": adminB.uuidString], 404, 404),
            (APIRoute(.DELETE, "/api/v1/user-groups/{id}/members/{userId}"), [groupB.id, userBId], nil, 404, 404),
            (APIRoute(.GET, "/api/v1/api-keys/{id}"), [keyB], nil, 404, 404),
            (APIRoute(.DELETE, "/api/v1/api-keys/{id}"), [keyB], nil, 404, 404),
        ]
        for (route, ids, body, tenantAdminExpects, userExpects) in probes {
            for (caller, expected) in [(adminA, tenantAdminExpects), (userA, userExpects)] {
                let label = "\(caller.user.username) \(route.method.rawValue) \(route.path(ids))"
                let onB = try await client.send(route.method, route.path(ids), token: caller.token, json: body)
                #expect(onB.status == expected, "\(label): expected \(expected), got \(onB.status) \(onB.text)")
                // An id that exists nowhere gets the very same answer: nothing tells B's objects apart.
                let nowhere = route.path(ids.map { _ in UUID() })
                let onNothing = try await client.send(route.method, nowhere, token: caller.token, json: body)
                #expect(onNothing.status == onB.status, "\(label) vs unknown id: \(onNothing.status) ≠ \(onB.status)")
                #expect(try problem(onNothing) == problem(onB), "\(label) vs unknown id: \(onNothing.text) ≠ \(onB.text)")
            }
        }
    }

    /// None of the refused requests changed anything of B's.
    func bIsUntouched() async throws {
        let tenant = try await client.get("/api/v1/tenants/\(tenantB.id.uuidString)", token: adminToken).decode(Tenant.self)
        #expect(tenant.description == nil)
        let user = try await client.get("/api/v1/users/\(userB.user.id.uuidString)", token: adminToken).decode(User.self)
        #expect(user.email == userB.user.email)
        let group = try await client.get("/api/v1/user-groups/\(groupB.id.uuidString)", token: adminToken).decode(UserGroup.self)
        #expect(group.description == nil)
        let members = try await client.get("/api/v1/user-groups/\(groupB.id.uuidString)/members", token: adminToken)
            .decode(Page<UserGroupMember>.self).items
        #expect(members.map(\.userId) == [userB.user.id])
        let key = try await client.get("/api/v1/api-keys/\(keyB.uuidString)", token: adminToken).decode(ApiKey.self)
        #expect(key.revokedAt == nil)
        // B's user still works with its own key.
        let keys = try await client.get("/api/v1/api-keys", token: userB.token)
        #expect(try itemIds(keys) == [keyB])
    }

    // MARK: Inside one tenant

    /// A USER of A cannot see another USER of A (404, like an unknown id); A's TENANT_ADMIN can.
    func usersOfATenant() async throws {
        let path = "/api/v1/users/\(otherUserA.uuidString)"
        let unknown = "/api/v1/users/\(UUID().uuidString)"
        let read = try await client.get(path, token: userA.token)
        #expect(read.status == 404, "USER reads another USER of its tenant: \(read.status) \(read.text)")
        #expect(try problem(read) == problem(try await client.get(unknown, token: userA.token)))
        let change = try await client.patch(path, token: userA.token, ["email": "hijack@example.com"])
        #expect(change.status == 404, "USER patches another USER of its tenant: \(change.status) \(change.text)")

        let byAdmin = try await client.get(path, token: adminA.token)
        #expect(byAdmin.status == 200, "TENANT_ADMIN reads a USER of its tenant: \(byAdmin.status) \(byAdmin.text)")
        #expect(try byAdmin.decode(User.self).email == "iso-a-other@example.com")
    }

    // MARK: Helpers

    func itemIds(_ response: APIResponse) throws -> [UUID] {
        guard response.status == 200, let items = try response.json()["items"] as? [[String: Any]] else {
            throw TestFailure("not a list: \(response.status) \(response.text)")
        }
        return items.compactMap { ($0["id"] as? String).flatMap(UUID.init(uuidString:)) }
    }

    /// The RFC 9457 fields that could tell two refusals apart.
    func problem(_ response: APIResponse) throws -> [String] {
        let body = try response.json()
        return ["type", "title", "status", "detail"].map { "\(body[$0] ?? "-")" } + [response.headers.first(name: "Content-Type") ?? "-"]
    }
}
