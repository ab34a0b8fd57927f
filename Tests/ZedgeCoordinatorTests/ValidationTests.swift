import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Bad input is a 400 (or 413) problem+json that names the field, never a 500, and changes nothing.
@Suite struct ValidationTests {
    @Test(arguments: TestEngine.all)
    func badInputIsA400NamingTheField(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let tenant = try await c.createTenant("valid", token: admin)
            let user: [String: Any] = [
                "username": "alice", "email": "alice@example.com", "password": "long-enough-pw",
                "role": "USER", "tenantId": tenant.id.uuidString,
            ]
            func with(_ changes: [String: Any]) -> [String: Any] { user.merging(changes) { $1 } }

            let cases: [(String, String, [String: Any], [String])] = [
                ("bad enum", "/api/v1/users", with(["role": "SUPERUSER"]), ["role"]),
                ("bad email", "/api/v1/users", with(["email": "not-an-email"]), ["email"]),
                ("unicode look-alike email", "/api/v1/users", with(["email": "аlice@example.com"]), ["email"]),
                ("short password", "/api/v1/users", with(["password": "short"]), ["password"]),
                ("over-long name", "/api/v1/tenants", ["name": String(repeating: "a", count: 300)], ["name"]),
                ("name with spaces", "/api/v1/tenants", ["name": "has spaces"], ["name"]),
                ("unknown field", "/api/v1/tenants", ["name": "ok-name", "colour": "red"], ["colour"]),
                ("system field", "/api/v1/tenants", ["name": "ok-name", "id": UUID().uuidString], ["id"]),
                ("system field createdAt", "/api/v1/users", with(["createdAt": "2020-01-01T00:00:00Z"]), ["createdAt"]),
                ("wrong type", "/api/v1/tenants", ["name": 42], ["name"]),
                ("null for required", "/api/v1/tenants", ["name": NSNull()], ["name"]),
                ("missing required", "/api/v1/users", ["username": "bob"], ["email"]),
                ("bad UUID", "/api/v1/users", with(["tenantId": "not-a-uuid"]), ["tenantId"]),
                ("negative quota", "/api/v1/tenants", ["name": "q", "quotaConfig": ["cpuCores": -1]], ["quotaConfig.cpuCores"]),
                ("vlan out of range", "/api/v1/tenants", ["name": "v", "vlanId": 5000], ["vlanId"]),
                ("nested unknown type", "/api/v1/tenants", ["name": "n", "quotaConfig": ["cpuCores": "many"]], ["quotaConfig.cpuCores"]),
            ]
            for (label, path, body, fields) in cases {
                let response = try await c.client.post(path, token: admin, body)
                #expect(response.status == 400, "\(label): \(response.status) \(response.text)")
                #expect(response.headers.first(name: "Content-Type") == "application/problem+json", "\(label)")
                #expect(response.problemFields.contains(fields[0]), "\(label): \(response.text)")
            }

            // Malformed JSON and non-object bodies name the body.
            for raw in ["{\"name\":", "[1,2]", "\"text\"", ""] {
                let response = try await c.client.send(.POST, "/api/v1/tenants", token: admin, rawBody: Data(raw.utf8))
                #expect(response.status == 400, "\(raw): \(response.text)")
                #expect(response.problemFields == ["body"], "\(raw): \(response.text)")
            }

            // A JSON route sent another media type is 415 naming the header, and nothing is made; JSON with a
            // charset or a +json type is read.
            let body = Data("{\"name\":\"typed\"}".utf8)
            func tenantNames() async throws -> [String] {
                let list = try await c.client.get("/api/v1/tenants?limit=200", token: admin)
                return ((try list.json()["items"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
            }
            for type in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"] {
                let response = try await c.client.send(.POST, "/api/v1/tenants", token: admin, rawBody: body, headers: [("Content-Type", type)])
                #expect(response.status == 415 && response.problemFields == ["Content-Type"], "\(type): \(response.status) \(response.text)")
                #expect(response.headers.first(name: "Content-Type") == "application/problem+json", "\(type)")
            }
            // Content-Type is one field: two (even if one says JSON) are a 400 naming it, not a 415 about the pair.
            let twice = try await c.client.send(.POST, "/api/v1/tenants", token: admin, rawBody: body,
                                                 headers: [("Content-Type", "application/json"), ("Content-Type", "text/plain")])
            #expect(twice.status == 400 && twice.problemFields == ["Content-Type"], "\(twice.status) \(twice.text)")
            #expect(twice.text.contains("must be given once"), "\(twice.text)")
            // Authorization is one field too: two (even the same valid token twice) are a 400 naming it, not a 401
            // about an unknown credential; one valid token is accepted as before.
            let twoTokens = try await c.client.send(.GET, "/api/v1/tenants", headers: [("Authorization", "Bearer \(admin)"),
                                                                                     ("Authorization", "Bearer \(admin)")])
            #expect(twoTokens.status == 400 && twoTokens.problemFields == ["Authorization"], "\(twoTokens.status) \(twoTokens.text)")
            #expect(try await c.client.send(.GET, "/api/v1/tenants", headers: [("Authorization", "Bearer \(admin)")]).status == 200)
            #expect(try await !tenantNames().contains("typed"))
            let charset = try await c.client.send(.POST, "/api/v1/tenants", token: admin, rawBody: body,
                                                   headers: [("Content-Type", "Application/JSON; charset=utf-8")])
            #expect(charset.status == 201, "\(charset.text)")
            let suffixed = try await c.client.send(.POST, "/api/v1/tenants", token: admin, rawBody: Data("{\"name\":\"typed-2\"}".utf8),
                                                    headers: [("Content-Type", "application/merge-patch+json")])
            #expect(suffixed.status == 201, "\(suffixed.text)")
            #expect(try await tenantNames().contains("typed"))
            for made in [charset, suffixed] {
                let id = try made.json()["id"] as? String ?? ""
                #expect(try await c.client.send(.DELETE, "/api/v1/tenants/\(id)", token: admin).status == 204)
            }

            // Immutable fields in a PATCH.
            let created = try await c.client.post("/api/v1/users", token: admin, user)
            let alice = try created.decode(User.self)
            let immutable = try await c.client.patch("/api/v1/users/\(alice.id)", token: admin, ["username": "mallory"])
            #expect(immutable.status == 400)
            #expect(immutable.problemFields == ["username"])
            #expect(try immutable.json()["errors"].map { "\($0)" }?.contains("read-only") == true)

            // Bad query parameters.
            // A cursor is any string by the document (it is opaque): one this API never returned is a 422.
            for (query, field) in [("limit=0", "limit"), ("limit=501", "limit"), ("cursor=zzz", "cursor"),
                                   ("role=KING", "role"), ("tenantId=x", "tenantId"), ("colour=red", "colour")] {
                let response = try await c.client.get("/api/v1/users?\(query)", token: admin)
                #expect(response.status == (field == "cursor" ? 422 : 400), "\(query): \(response.text)")
                #expect(response.problemFields == [field], "\(query): \(response.text)")
            }

            // Nothing above was written: still one tenant, two users (admin, alice).
            #expect(try await c.client.get("/api/v1/tenants", token: admin).decode(Page<Tenant>.self).items.count == 1)
            #expect(try await c.client.get("/api/v1/users", token: admin).decode(Page<User>.self).items.count == 2)
        }
    }

    @Test(arguments: TestEngine.all)
    func oversizedBodiesAre413(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let huge = Data("{\"name\":\"\(String(repeating: "x", count: 2 << 20))\"}".utf8)
            let response = try await c.client.send(.POST, "/api/v1/tenants", token: admin, rawBody: huge)
            #expect(response.status == 413)
            #expect(try response.json()["status"] as? Int == 413)
        }
    }

    @Test(arguments: TestEngine.all)
    func conflictsAre409NamingTheField(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let a = try await c.createTenant("dup-a", token: admin)
            let b = try await c.createTenant("dup-b", token: admin)

            let tenant = try await c.client.post("/api/v1/tenants", token: admin, ["name": "dup-a"])
            #expect(tenant.status == 409)
            #expect(tenant.problemFields == ["name"])

            let vlan1 = try await c.client.patch("/api/v1/tenants/\(a.id)", token: admin, ["vlanId": 100])
            #expect(vlan1.status == 200)
            let vlan2 = try await c.client.patch("/api/v1/tenants/\(b.id)", token: admin, ["vlanId": 100])
            #expect(vlan2.status == 409)
            #expect(vlan2.problemFields == ["vlanId"])

            let user: [String: Any] = ["username": "carol", "email": "carol@example.com", "password": "long-enough-pw",
                                       "role": "USER", "tenantId": a.id.uuidString]
            #expect(try await c.client.post("/api/v1/users", token: admin, user).status == 201)
            let sameName = try await c.client.post("/api/v1/users", token: admin, user.merging(["email": "other@example.com"]) { $1 })
            #expect(sameName.status == 409)
            #expect(sameName.problemFields == ["username"])
            let sameEmail = try await c.client.post("/api/v1/users", token: admin, user.merging(["username": "carol2"]) { $1 })
            #expect(sameEmail.status == 409)
            #expect(sameEmail.problemFields == ["email"])
            // Emails compare case-insensitively (stored lowercase).
            let upper = try await c.client.post("/api/v1/users", token: admin,
                                                user.merging(["username": "carol3", "email": "CAROL@example.com"]) { $1 })
            #expect(upper.status == 409)

            // Group names are unique within a tenant, not across tenants.
            #expect(try await c.client.post("/api/v1/user-groups", token: admin, ["name": "ops", "tenantId": a.id.uuidString]).status == 201)
            let sameGroup = try await c.client.post("/api/v1/user-groups", token: admin, ["name": "ops", "tenantId": a.id.uuidString])
            #expect(sameGroup.status == 409)
            #expect(sameGroup.problemFields == ["name"])
            #expect(try await c.client.post("/api/v1/user-groups", token: admin, ["name": "ops", "tenantId": b.id.uuidString]).status == 201)

            // A tenant with users cannot be deleted.
            let delete = try await c.client.delete("/api/v1/tenants/\(a.id)", token: admin)
            #expect(delete.status == 409)
        }
    }

    @Test(arguments: TestEngine.all)
    func groupHierarchyRefusesCyclesAndForeignParents(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let a = try await c.createTenant("tree-a", token: admin)
            let b = try await c.createTenant("tree-b", token: admin)
            func group(_ name: String, _ tenant: Tenant, parent: UUID? = nil) async throws -> UserGroup {
                var body: [String: Any] = ["name": name, "tenantId": tenant.id.uuidString]
                if let parent { body["parentGroupId"] = parent.uuidString }
                let response = try await c.client.post("/api/v1/user-groups", token: admin, body)
                #expect(response.status == 201, "\(response.text)")
                return try response.decode(UserGroup.self)
            }
            let root = try await group("root", a)
            let child = try await group("child", a, parent: root.id)
            let grandchild = try await group("grandchild", a, parent: child.id)
            let foreign = try await group("foreign", b)

            let cycle = try await c.client.patch("/api/v1/user-groups/\(root.id)", token: admin, ["parentGroupId": grandchild.id.uuidString])
            #expect(cycle.status == 422)
            #expect(cycle.problemFields == ["parentGroupId"])
            let selfParent = try await c.client.patch("/api/v1/user-groups/\(root.id)", token: admin, ["parentGroupId": root.id.uuidString])
            #expect(selfParent.status == 422)
            let crossTenant = try await c.client.patch("/api/v1/user-groups/\(child.id)", token: admin, ["parentGroupId": foreign.id.uuidString])
            #expect(crossTenant.status == 422)
            // A parent with children cannot be deleted; the leaf can.
            #expect(try await c.client.delete("/api/v1/user-groups/\(child.id)", token: admin).status == 409)
            #expect(try await c.client.delete("/api/v1/user-groups/\(grandchild.id)", token: admin).status == 204)
            // Members: unique per group, and only users of the group's tenant.
            let (user, _, _) = try await c.createUser("member", role: .user, tenant: a.id, token: admin)
            #expect(try await c.client.post("/api/v1/user-groups/\(root.id)/members", token: admin, ["userId": user.id.uuidString]).status == 201)
            let again = try await c.client.post("/api/v1/user-groups/\(root.id)/members", token: admin, ["userId": user.id.uuidString])
            #expect(again.status == 409)
            #expect(try await c.client.post("/api/v1/user-groups/\(foreign.id)/members", token: admin, ["userId": user.id.uuidString]).problemFields == ["userId"])
        }
    }
}
