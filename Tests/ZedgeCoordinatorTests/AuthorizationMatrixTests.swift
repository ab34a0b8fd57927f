import Foundation
import NIOHTTP1
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Function-level authorization (DESIGN §3, PermissionCatalog's default grants): every role against every
/// route of the identity, RBAC and audit APIs. Each target is an object the role can reach (its own tenant,
/// itself, a group it belongs to, its own key), so a 403 can only mean "this role lacks the permission".
@Suite struct AuthorizationMatrixTests {
    @Test(arguments: TestEngine.all)
    func everyRoleOnEveryRoute(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { coordinator in
            let fixtures = try await MatrixFixtures.make(coordinator)
            var checked = 0
            for rule in MatrixFixtures.rules {
                for role in UserRole.allCases {
                    let actor = fixtures.actor(role)
                    let ids = try await rule.target(fixtures, actor)
                    let body = rule.body(fixtures, actor)
                    let response = try await coordinator.client.send(
                        rule.route.method, rule.route.path(ids), token: actor.token, json: body)
                    let expected: Set<Int> = rule.allowed.contains(role) ? [rule.success] : [403]
                    #expect(
                        expected.contains(response.status),
                        "\(role.rawValue) \(rule.route) → \(rule.route.path(ids)): expected \(expected.sorted()), got \(response.status) \(response.text)")
                    checked += 1
                }
            }
            // The table covers 26 routes × 4 roles; a shrinking table would silently test less.
            #expect(checked == 26 * 4)
        }
    }

    /// Without credentials (or with a bad token) every /api/v1 route answers 401, whatever the id: both the
    /// routes of the table and every authenticated route the OpenAPI document lists.
    @Test(arguments: TestEngine.all)
    func everyRouteNeedsCredentials(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { coordinator in
            // Public by design: signing in/out and the API description itself.
            let publicPaths: Set<String> = [
                "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/openapi.json",
            ]
            let document = try await coordinator.client.get("/api/v1/openapi.json", token: nil)
            #expect(document.status == 200)
            let paths = try #require(try document.json()["paths"] as? [String: [String: Any]])
            var routes = Set(MatrixFixtures.rules.map(\.route))
            routes.insert(APIRoute(.GET, "/api/v1/auth/me"))
            for (template, operations) in paths where template.hasPrefix("/api/v1/") && !publicPaths.contains(template) {
                for method in operations.keys {
                    routes.insert(APIRoute(HTTPMethod(rawValue: method.uppercased()), template))
                }
            }
            // The document lists every route of the table (so the sweep below is not vacuous).
            for rule in MatrixFixtures.rules {
                #expect(paths[rule.route.template]?[rule.route.method.rawValue.lowercased()] != nil,
                        "OpenAPI document lacks \(rule.route)")
            }
            for route in routes.sorted(by: { $0.description < $1.description }) {
                let path = route.path(route.placeholders.map { _ in UUID() })
                let body: [String: Any]? = [.POST, .PATCH].contains(route.method) ? [:] : nil
                let anonymous = try await coordinator.client.send(route.method, path, json: body)
                #expect(anonymous.status == 401, "no token: \(route) → \(anonymous.status) \(anonymous.text)")
                #expect(anonymous.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true,
                        "no token: \(route) lacks WWW-Authenticate: Bearer")
                let forged = try await coordinator.client.send(route.method, path, token: "not-a-real-token", json: body)
                #expect(forged.status == 401, "bad token: \(route) → \(forged.status) \(forged.text)")
            }
        }
    }
}

/// A route in OpenAPI form; `{…}` segments are filled from ids in order.
struct APIRoute: Hashable, CustomStringConvertible {
    let method: HTTPMethod
    let template: String

    init(_ method: HTTPMethod, _ template: String) {
        self.method = method
        self.template = template
    }

    static func == (a: APIRoute, b: APIRoute) -> Bool { a.method == b.method && a.template == b.template }
    func hash(into hasher: inout Hasher) {
        hasher.combine(method.rawValue)
        hasher.combine(template)
    }

    var placeholders: [Substring] { template.split(separator: "/").filter { $0.hasPrefix("{") } }

    func path(_ ids: [UUID]) -> String {
        var remaining = ids[...]
        return template.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") ? (remaining.popFirst()?.uuidString ?? String(part)) : String(part)
        }.joined(separator: "/")
    }

    var description: String { "\(method.rawValue) \(template)" }
}

/// One signed-in user of a role.
struct MatrixCaller {
    let role: UserRole
    let user: User
    let token: String
}

/// One route's expectation: roles in `allowed` get `success`, the others 403.
struct MatrixRule {
    let route: APIRoute
    let allowed: Set<UserRole>
    let success: Int
    /// The ids for the path: something `actor` can reach (fresh objects for DELETEs).
    var target: (MatrixFixtures, MatrixCaller) async throws -> [UUID] = { _, _ in [] }
    var body: (MatrixFixtures, MatrixCaller) -> [String: Any]? = { _, _ in nil }
}

/// One tenant with one user per role (the bootstrap ADMIN has no tenant; the OPERATOR is placed in the
/// tenant so that tenant-scoped targets are in its reach), a group with the USER and the OPERATOR as
/// members, an API key per role and a permission id.
struct MatrixFixtures {
    let factory: MatrixFixtureFactory
    let actors: [UserRole: MatrixCaller]
    let group: UserGroup
    let keys: [UserRole: UUID]
    let permissionId: UUID

    var tenant: Tenant { factory.tenant }
    func actor(_ role: UserRole) -> MatrixCaller { actors[role]! }
    func freshTenant() async throws -> UUID { try await factory.freshTenant() }
    func freshUser() async throws -> UUID { try await factory.freshUser() }
    func freshGroup(members: [MatrixCaller] = []) async throws -> UserGroup { try await factory.freshGroup(members: members) }
    func freshKey(for caller: MatrixCaller) async throws -> UUID { try await factory.freshKey(for: caller) }

    static func make(_ coordinator: TestCoordinator) async throws -> MatrixFixtures {
        let adminToken = try await coordinator.adminToken()
        let me = try await coordinator.client.get("/api/v1/auth/me", token: adminToken).decode(User.self)
        let tenant = try await coordinator.createTenant("matrix", token: adminToken)
        let factory = MatrixFixtureFactory(client: coordinator.client, adminToken: adminToken, tenant: tenant)
        var actors: [UserRole: MatrixCaller] = [.admin: MatrixCaller(role: .admin, user: me, token: adminToken)]
        for (role, name) in [(UserRole.tenantAdmin, "m-tenant-admin"), (.operator, "m-operator"), (.user, "m-user")] {
            let created = try await coordinator.createUser(name, role: role, tenant: tenant.id, token: adminToken)
            actors[role] = MatrixCaller(role: role, user: created.user, token: created.token)
        }
        let group = try await factory.freshGroup(members: [actors[.user]!, actors[.operator]!])
        var keys: [UserRole: UUID] = [:]
        for role in UserRole.allCases { keys[role] = try await factory.freshKey(for: actors[role]!) }
        let permissions = try await coordinator.client.get("/api/v1/permissions?limit=1", token: adminToken)
        let permission = try #require(try permissions.decode(Page<Permission>.self).items.first)
        return MatrixFixtures(factory: factory, actors: actors, group: group, keys: keys, permissionId: permission.id)
    }

    /// OPERATOR and USER reach only groups they belong to; ADMIN and TENANT_ADMIN reach any in the tenant.
    static func membersFor(_ actor: MatrixCaller) -> [MatrixCaller] { [.operator, .user].contains(actor.role) ? [actor] : [] }

    // MARK: The table

    static let tenantAdmins: Set<UserRole> = [.admin, .tenantAdmin]
    static let readers: Set<UserRole> = [.admin, .tenantAdmin, .user]  // everyone but the OPERATOR
    static let everyone = Set(UserRole.allCases)

    static var rules: [MatrixRule] {
        [
            // Tenants: ADMIN manages; TENANT_ADMIN reads and describes its own; USER reads its own; OPERATOR nothing.
            MatrixRule(route: APIRoute(.POST, "/api/v1/tenants"), allowed: [.admin], success: 201,
                       body: { _, a in ["name": "t-\(a.role.rawValue.lowercased())-\(UUID().uuidString.prefix(6))"] }),
            MatrixRule(route: APIRoute(.GET, "/api/v1/tenants"), allowed: readers, success: 200),
            MatrixRule(route: APIRoute(.GET, "/api/v1/tenants/{id}"), allowed: readers, success: 200,
                       target: { f, _ in [f.tenant.id] }),
            MatrixRule(route: APIRoute(.PATCH, "/api/v1/tenants/{id}"), allowed: tenantAdmins, success: 200,
                       target: { f, _ in [f.tenant.id] }, body: { _, a in ["description": "by \(a.role.rawValue)"] }),
            // Non-ADMINs aim at their own tenant (the only one they reach; it has users, so never actually deleted).
            MatrixRule(route: APIRoute(.DELETE, "/api/v1/tenants/{id}"), allowed: [.admin], success: 204,
                       target: { f, a in [a.role == .admin ? try await f.freshTenant() : f.tenant.id] }),

            // Users: ADMIN and TENANT_ADMIN manage; everyone reads and edits itself.
            MatrixRule(route: APIRoute(.POST, "/api/v1/users"), allowed: tenantAdmins, success: 201, body: { f, a in
                let name = "new-\(a.role.rawValue.lowercased().replacingOccurrences(of: "_", with: "-"))-\(UUID().uuidString.prefix(6).lowercased())"
                return ["username": name, "email": "\(name)@example.com", "password": "new-user-password",
                        "role": "USER", "tenantId": f.tenant.id.uuidString]
            }),
            MatrixRule(route: APIRoute(.GET, "/api/v1/users"), allowed: everyone, success: 200),
            MatrixRule(route: APIRoute(.GET, "/api/v1/users/{id}"), allowed: everyone, success: 200,
                       target: { _, a in [a.user.id] }),
            MatrixRule(route: APIRoute(.PATCH, "/api/v1/users/{id}"), allowed: everyone, success: 200,
                       target: { _, a in [a.user.id] },
                       body: { _, a in ["email": "\(a.role.rawValue.lowercased())-\(UUID().uuidString.prefix(6).lowercased())@example.com"] }),
            // OPERATOR and USER aim at themselves (the only user they reach).
            MatrixRule(route: APIRoute(.DELETE, "/api/v1/users/{id}"), allowed: tenantAdmins, success: 204,
                       target: { f, a in [tenantAdmins.contains(a.role) ? try await f.freshUser() : a.user.id] }),

            // User groups: ADMIN and TENANT_ADMIN manage; a USER reads the groups it belongs to; OPERATOR nothing.
            MatrixRule(route: APIRoute(.POST, "/api/v1/user-groups"), allowed: tenantAdmins, success: 201, body: { f, a in
                var body: [String: Any] = ["name": "g-\(UUID().uuidString.prefix(8))"]
                if a.role == .admin { body["tenantId"] = f.tenant.id.uuidString }
                return body
            }),
            MatrixRule(route: APIRoute(.GET, "/api/v1/user-groups"), allowed: readers, success: 200),
            MatrixRule(route: APIRoute(.GET, "/api/v1/user-groups/{id}"), allowed: readers, success: 200,
                       target: { f, _ in [f.group.id] }),
            MatrixRule(route: APIRoute(.PATCH, "/api/v1/user-groups/{id}"), allowed: tenantAdmins, success: 200,
                       target: { f, _ in [f.group.id] }, body: { _, a in ["description": "by \(a.role.rawValue)"] }),
            MatrixRule(route: APIRoute(.DELETE, "/api/v1/user-groups/{id}"), allowed: tenantAdmins, success: 204,
                       target: { f, a in [try await f.freshGroup(members: membersFor(a)).id] }),
            MatrixRule(route: APIRoute(.GET, "/api/v1/user-groups/{id}/members"), allowed: readers, success: 200,
                       target: { f, _ in [f.group.id] }),
            // Adds a tenant user who is not yet in the (fresh) group.
            MatrixRule(route: APIRoute(.POST, "/api/v1/user-groups/{id}/members"), allowed: tenantAdmins, success: 201,
                       target: { f, a in [try await f.freshGroup(members: membersFor(a)).id] },
                       body: { f, a in ["userId": f.actor(a.role == .tenantAdmin ? .user : .tenantAdmin).user.id.uuidString] }),
            // Removes an existing member: the USER for ADMIN/TENANT_ADMIN, the caller itself otherwise.
            MatrixRule(route: APIRoute(.DELETE, "/api/v1/user-groups/{id}/members/{userId}"), allowed: tenantAdmins, success: 204,
                       target: { f, a in
                           let member = membersFor(a).first ?? f.actor(.user)
                           return [try await f.freshGroup(members: [member]).id, member.user.id]
                       }),

            // API keys: everyone manages its own.
            MatrixRule(route: APIRoute(.POST, "/api/v1/api-keys"), allowed: everyone, success: 201,
                       body: { _, a in ["name": "key of \(a.role.rawValue)"] }),
            MatrixRule(route: APIRoute(.GET, "/api/v1/api-keys"), allowed: everyone, success: 200),
            MatrixRule(route: APIRoute(.GET, "/api/v1/api-keys/{id}"), allowed: everyone, success: 200,
                       target: { f, a in [f.keys[a.role]!] }),
            MatrixRule(route: APIRoute(.DELETE, "/api/v1/api-keys/{id}"), allowed: everyone, success: 204,
                       target: { f, a in [try await f.freshKey(for: a)] }),

            // RBAC rows are readable by everyone signed in.
            MatrixRule(route: APIRoute(.GET, "/api/v1/permissions"), allowed: everyone, success: 200),
            MatrixRule(route: APIRoute(.GET, "/api/v1/permissions/{id}"), allowed: everyone, success: 200,
                       target: { f, _ in [f.permissionId] }),
            MatrixRule(route: APIRoute(.GET, "/api/v1/role-permissions"), allowed: everyone, success: 200),

            // Audit log: ADMIN and TENANT_ADMIN only.
            MatrixRule(route: APIRoute(.GET, "/api/v1/audit-logs"), allowed: tenantAdmins, success: 200),
        ]
    }
}

/// Creates objects as the ADMIN inside one tenant, so that only the request under test can be refused.
struct MatrixFixtureFactory {
    let client: APIClient
    let adminToken: String
    let tenant: Tenant

    func freshTenant() async throws -> UUID {
        let response = try await client.post("/api/v1/tenants", token: adminToken, ["name": "fresh-\(UUID().uuidString.prefix(8))"])
        guard response.status == 201 else { throw TestFailure("fresh tenant: \(response.status) \(response.text)") }
        return try response.decode(Tenant.self).id
    }

    /// A USER in the tenant (costs one bcrypt hash; no login).
    func freshUser(_ name: String = "victim-\(UUID().uuidString.prefix(8).lowercased())") async throws -> UUID {
        let response = try await client.post("/api/v1/users", token: adminToken, [
            "username": name, "email": "\(name)@example.com", "password": "victim-password", "role": "USER",
            "tenantId": tenant.id.uuidString,
        ])
        guard response.status == 201 else { throw TestFailure("fresh user: \(response.status) \(response.text)") }
        return try response.decode(User.self).id
    }

    func freshGroup(members: [MatrixCaller] = []) async throws -> UserGroup {
        let response = try await client.post("/api/v1/user-groups", token: adminToken, [
            "name": "group-\(UUID().uuidString.prefix(8))", "tenantId": tenant.id.uuidString,
        ])
        guard response.status == 201 else { throw TestFailure("fresh group: \(response.status) \(response.text)") }
        let group = try response.decode(UserGroup.self)
        for member in members {
            let added = try await client.post(
                "/api/v1/user-groups/\(group.id.uuidString)/members", token: adminToken, ["userId": member.user.id.uuidString])
            guard added.status == 201 else { throw TestFailure("add member: \(added.status) \(added.text)") }
        }
        return group
    }

    /// A key of `caller`'s own.
    func freshKey(for caller: MatrixCaller) async throws -> UUID {
        let response = try await client.post("/api/v1/api-keys", token: caller.token, ["name": "key-\(UUID().uuidString.prefix(8))"])
        guard response.status == 201 else { throw TestFailure("fresh key: \(response.status) \(response.text)") }
        guard let id = (try response.json()["id"] as? String).flatMap(UUID.init(uuidString:)) else {
            throw TestFailure("fresh key without id: \(response.text)")
        }
        return id
    }
}
