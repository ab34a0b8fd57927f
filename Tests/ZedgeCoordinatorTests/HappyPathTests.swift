import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Every route of the API once, through the real HTTP stack, checking what comes back; then no response
/// of the whole session may contain a password hash, key hash or token hash.
@Suite struct HappyPathTests {
    @Test(arguments: TestEngine.all)
    func everyRouteWorksAndNoResponseLeaksASecret(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let api = c.client
            // Auth
            let login = try await api.login("admin", TestCoordinator.adminPassword)
            let admin = login.accessToken
            let me = try await api.get("/api/v1/auth/me", token: admin).decode(User.self)
            #expect(me.role == .admin && me.lastLoginAt != nil)

            // Tenants
            let created = try await api.post("/api/v1/tenants", token: admin, [
                "name": "acme", "description": "Acme Corp", "vlanId": 42,
                "quotaConfig": ["cpuCores": 64, "memoryGb": 256, "instances": 10],
            ])
            #expect(created.status == 201)
            let tenant = try created.decode(Tenant.self)
            #expect(created.headers.first(name: "Location") == "/api/v1/tenants/\(tenant.id.uuidString)")
            #expect(tenant.status == .active && tenant.createdBy == me.id && tenant.quotaConfig?.cpuCores == 64)
            #expect(try await api.get("/api/v1/tenants/\(tenant.id)", token: admin).decode(Tenant.self) == tenant)
            let patched = try await api.patch("/api/v1/tenants/\(tenant.id)", token: admin, ["description": NSNull(), "status": "SUSPENDED"])
            #expect(patched.status == 200)
            let patchedTenant = try patched.decode(Tenant.self)
            #expect(patchedTenant.description == nil && patchedTenant.status == .suspended && patchedTenant.vlanId == 42)
            #expect(try await api.get("/api/v1/tenants/\(tenant.id)", token: admin).decode(Tenant.self).description == nil)
            #expect(try await api.get("/api/v1/tenants?status=SUSPENDED", token: admin).decode(Page<Tenant>.self).items.map(\.id) == [tenant.id])
            #expect(try await api.get("/api/v1/tenants?status=ACTIVE", token: admin).decode(Page<Tenant>.self).items.isEmpty)

            // Users
            let (tenantAdmin, tenantAdminToken, _) = try await c.createUser("acme-admin", role: .tenantAdmin, tenant: tenant.id, token: admin)
            #expect(try await api.patch("/api/v1/tenants/\(tenant.id)", token: admin, ["adminUserId": tenantAdmin.id.uuidString]).decode(Tenant.self).adminUserId == tenantAdmin.id)
            let (user, userToken, _) = try await c.createUser("acme-user", role: .user, tenant: tenant.id, token: tenantAdminToken)
            #expect(user.tenantId == tenant.id && user.role == .user && user.status == .active)
            let readBack = try await api.get("/api/v1/users/\(user.id)", token: userToken).decode(User.self)
            #expect(readBack.id == user.id && readBack.username == "acme-user" && readBack.lastLoginAt != nil)
            let renamed = try await api.patch("/api/v1/users/\(user.id)", token: userToken, ["email": "New@Example.com"])
            #expect(try renamed.decode(User.self).email == "new@example.com")
            let quota = try await api.patch("/api/v1/users/\(user.id)", token: tenantAdminToken, ["quotaConfig": ["instances": 2]])
            #expect(try quota.decode(User.self).quotaConfig == QuotaConfig(instances: 2))
            let tenantUsers = try await api.get("/api/v1/users?tenantId=\(tenant.id)&role=USER", token: admin).decode(Page<User>.self)
            #expect(tenantUsers.items.map(\.id) == [user.id])

            // Pagination: pages of 2 over 4 users, in creation order, without repeats.
            var seen: [UUID] = []
            var cursor: String?
            repeat {
                let path = "/api/v1/users?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await api.get(path, token: admin).decode(Page<User>.self)
                #expect(page.items.count <= 2)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen.count == 3 && Set(seen).count == 3)
            #expect(seen == [me.id, tenantAdmin.id, user.id])

            // Groups and members
            let groupResponse = try await api.post("/api/v1/user-groups", token: tenantAdminToken, ["name": "engineering", "description": "Eng"])
            #expect(groupResponse.status == 201)
            let group = try groupResponse.decode(UserGroup.self)
            #expect(group.tenantId == tenant.id)
            let subgroup = try await api.post("/api/v1/user-groups", token: tenantAdminToken, ["name": "sre", "parentGroupId": group.id.uuidString]).decode(UserGroup.self)
            #expect(subgroup.parentGroupId == group.id)
            #expect(try await api.patch("/api/v1/user-groups/\(subgroup.id)", token: tenantAdminToken, ["name": "platform"]).decode(UserGroup.self).name == "platform")
            let member = try await api.post("/api/v1/user-groups/\(group.id)/members", token: tenantAdminToken, ["userId": user.id.uuidString])
            #expect(member.status == 201)
            #expect(try member.decode(UserGroupMember.self).addedBy == tenantAdmin.id)
            let members = try await api.get("/api/v1/user-groups/\(group.id)/members", token: userToken).decode(Page<UserGroupMember>.self)
            #expect(members.items.map(\.userId) == [user.id])
            #expect(try await api.get("/api/v1/user-groups", token: userToken).decode(Page<UserGroup>.self).items.map(\.id) == [group.id])
            #expect(try await api.get("/api/v1/user-groups/\(group.id)", token: userToken).status == 200)
            #expect(try await api.get("/api/v1/user-groups?parentGroupId=\(group.id)", token: tenantAdminToken).decode(Page<UserGroup>.self).items.map(\.id) == [subgroup.id])
            #expect(try await api.delete("/api/v1/user-groups/\(group.id)/members/\(user.id)", token: tenantAdminToken).status == 204)
            #expect(try await api.delete("/api/v1/user-groups/\(group.id)/members/\(user.id)", token: tenantAdminToken).status == 404)
            #expect(try await api.delete("/api/v1/user-groups/\(subgroup.id)", token: tenantAdminToken).status == 204)
            #expect(try await api.get("/api/v1/user-groups/\(subgroup.id)", token: tenantAdminToken).status == 404)

            // API keys
            let keyResponse = try await api.post("/api/v1/api-keys", token: userToken, ["name": "laptop", "expiresAt": "2099-01-01T00:00:00Z"])
            #expect(keyResponse.status == 201)
            let key = try #require(try keyResponse.json()["key"] as? String)
            let keyId = try #require(try keyResponse.json()["id"] as? String)
            #expect(try await api.get("/api/v1/auth/me", token: key).decode(User.self).id == user.id)
            #expect(try await api.get("/api/v1/api-keys", token: userToken).decode(Page<ApiKey>.self).items.map(\.name) == ["laptop"])
            #expect(try await api.get("/api/v1/api-keys/\(keyId)", token: userToken).decode(ApiKey.self).expiresAt != nil)
            #expect(try await api.get("/api/v1/api-keys?userId=\(user.id)", token: admin).decode(Page<ApiKey>.self).items.count == 1)
            #expect(try await api.delete("/api/v1/api-keys/\(keyId)", token: userToken).status == 204)

            // RBAC rows
            let permissions = try await api.get("/api/v1/permissions?resourceType=TENANT", token: userToken).decode(Page<Permission>.self)
            #expect(permissions.items.count == PermissionAction.allCases.count)
            let permission = try #require(permissions.items.first)
            #expect(try await api.get("/api/v1/permissions/\(permission.id)", token: userToken).decode(Permission.self) == permission)
            #expect(try await api.get("/api/v1/role-permissions?permissionId=\(permission.id)", token: userToken).decode(Page<RolePermission>.self).items.contains { $0.role == .admin })

            // Audit log
            let audit = try await api.get("/api/v1/audit-logs?resourceType=USER_GROUP", token: tenantAdminToken).decode(Page<AuditLog>.self)
            #expect(audit.items.contains { $0.action == "user-group.create" && $0.status == .success })

            // Every secret stored so far, before deletes cascade some of them away.
            var hashes = try await storedHashes(c)
            #expect(hashes.count == 7)  // 3 password hashes, 1 API key, 3 refresh tokens

            // Deletes
            #expect(try await api.delete("/api/v1/users/\(user.id)", token: tenantAdminToken).status == 204)
            #expect(try await api.get("/api/v1/users/\(user.id)", token: admin).status == 404)
            #expect(try await api.delete("/api/v1/users/\(me.id)", token: admin).status == 409)  // not yourself
            #expect(try await api.delete("/api/v1/user-groups/\(group.id)", token: tenantAdminToken).status == 204)
            #expect(try await api.delete("/api/v1/users/\(tenantAdmin.id)", token: admin).status == 204)
            #expect(try await api.delete("/api/v1/tenants/\(tenant.id)", token: admin).status == 204)
            #expect(try await api.get("/api/v1/tenants/\(tenant.id)", token: admin).status == 404)

            // Refresh and logout
            let refreshed = try await api.post("/api/v1/auth/refresh", token: nil, ["refreshToken": login.refreshToken]).decode(TokenPair.self)
            #expect(try await api.post("/api/v1/auth/logout", token: nil, ["refreshToken": refreshed.refreshToken]).status == 204)

            // System endpoints
            for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
                #expect(try await api.get(path, token: nil).status == 200)
            }

            // No response of this whole session contains a stored secret or a hash field.
            hashes.formUnion(try await storedHashes(c))
            let responses = api.responses
            #expect(responses.count > 50)
            for body in responses {
                for hash in hashes {
                    #expect(!body.contains(hash), "a response contains a stored hash: \(body.prefix(200))")
                }
                #expect(!body.contains("$2b$"), "a response contains a bcrypt hash: \(body.prefix(200))")
                for field in ["passwordHash", "password_hash", "keyHash", "key_hash", "tokenHash", "token_hash"] {
                    #expect(!body.contains(field), "a response names \(field): \(body.prefix(200))")
                }
            }
        }
    }

    /// The password, key and token hashes in the database now.
    func storedHashes(_ c: TestCoordinator) async throws -> Set<String> {
        try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: .init(label: "t")) { db in
            var values: Set<String> = []
            for (table, column) in [("users", "password_hash"), ("api_keys", "key_hash"), ("refresh_tokens", "token_hash")] {
                values.formUnion(try await db.sql.raw("SELECT \(ident: column) AS v FROM \(ident: table)").all()
                    .map { try $0.decode(column: "v", as: String.self) })
            }
            return values
        }
    }
}
