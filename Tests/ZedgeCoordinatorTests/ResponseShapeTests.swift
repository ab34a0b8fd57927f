import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #15 item 5, stable shapes: every response of a type carries the same keys (`null` for an optional one
/// without a value), and they are the properties its OpenAPI schema names, all `required`.
@Suite struct ResponseShapeTests {
    @Test(arguments: TestEngine.all)
    func everyObjectOfATypeCarriesTheKeysItsSchemaNames(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let tenant = try await c.createTenant("shape-\(UUID().uuidString.prefix(6).lowercased())", token: admin)
            let user = try await c.createUser("shape-\(UUID().uuidString.prefix(6).lowercased())", role: .user, tenant: tenant.id, token: admin)
            let document = try await c.client.get("/api/v1/openapi.json", token: nil).json()
            let paths = try #require(document["paths"] as? [String: Any])
            /// The schema of a GET's 200 answer.
            func schema(_ path: String) throws -> [String: Any] {
                let get = try #require((paths[path] as? [String: Any])?["get"] as? [String: Any], "GET \(path)")
                let ok = try #require((get["responses"] as? [String: Any])?["200"] as? [String: Any])
                let json = try #require((ok["content"] as? [String: Any])?["application/json"] as? [String: Any])
                return try #require(json["schema"] as? [String: Any])
            }
            func properties(_ schema: [String: Any]) throws -> Set<String> {
                let names = Set(try #require(schema["properties"] as? [String: Any]).keys)
                #expect(Set(schema["required"] as? [String] ?? []) == names, "every property is required")
                return names
            }

            // Users: the admin has no tenant, the user has one; both carry `tenantId`.
            let usersSchema = try schema("/api/v1/users")
            let itemsArray = try #require((usersSchema["properties"] as? [String: Any])?["items"] as? [String: Any])
            let userItem = try #require(itemsArray["items"] as? [String: Any])
            let userKeys = try properties(userItem)
            #expect(userKeys.contains("tenantId"))
            let page = try await c.client.get("/api/v1/users", token: admin).json()
            #expect(Set(page.keys) == (try properties(usersSchema)))
            #expect(page["nextCursor"] is NSNull, "the last page says so with null")
            let items = try #require(page["items"] as? [[String: Any]])
            #expect(items.count >= 2)
            for item in items { #expect(Set(item.keys) == userKeys, "\(item["username"] ?? "?")") }
            #expect(items.contains { $0["tenantId"] is NSNull } && items.contains { $0["tenantId"] is String })
            // One by one, the same keys.
            let one = try await c.client.get("/api/v1/users/\(user.user.id)", token: admin).json()
            #expect(Set(one.keys) == (try properties(try schema("/api/v1/users/{id}"))))

            // Tenants: the same rule.
            let tenantKeys = try properties(try schema("/api/v1/tenants/{id}"))
            let tenantJSON = try await c.client.get("/api/v1/tenants/\(tenant.id)", token: admin).json()
            #expect(Set(tenantJSON.keys) == tenantKeys)
            #expect(tenantJSON.values.contains { $0 is NSNull }, "an optional field without a value is null, not left out")
        }
    }
}
