import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Who may set which field: a USER cannot change its own role, status, tenant or quota; a TENANT_ADMIN
/// cannot make an ADMIN (or OPERATOR) nor move a user to another tenant; system-made fields are read-only.
@Suite struct PropertyRulesTests {
    @Test(arguments: TestEngine.all)
    func fieldsOnlyTheRightRolesMaySet(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let api = c.client
            let admin = try await c.adminToken()
            let home = try await c.createTenant("home", token: admin)
            let elsewhere = try await c.createTenant("elsewhere", token: admin)
            let (tenantAdmin, tenantAdminToken, _) = try await c.createUser("home-admin", role: .tenantAdmin, tenant: home.id, token: admin)
            let (user, userToken, _) = try await c.createUser("home-user", role: .user, tenant: home.id, token: admin)
            let (op, operatorToken, _) = try await c.createUser("an-operator", role: .operator, tenant: nil, token: admin)

            func refused(_ response: APIResponse, _ field: String, _ label: String) {
                #expect(response.status == 403, "\(label): \(response.status) \(response.text)")
                #expect(response.problemFields == [field], "\(label): \(response.text)")
            }

            // A USER and an OPERATOR change their own email and password, nothing else about themselves.
            for (me, token) in [(user, userToken), (op, operatorToken)] {
                for (field, value) in [("role", "ADMIN" as Any), ("status", "LOCKED"), ("tenantId", elsewhere.id.uuidString),
                                       ("quotaConfig", ["instances": 1000])] {
                    refused(try await api.patch("/api/v1/users/\(me.id)", token: token, [field: value]), field, "\(me.username) sets own \(field)")
                }
                #expect(try await api.patch("/api/v1/users/\(me.id)", token: token, ["email": "\(me.username)@new.example.com"]).status == 200)
            }
            #expect(try await api.get("/api/v1/users/\(user.id)", token: admin).decode(User.self).role == .user)

            // A TENANT_ADMIN makes USERs and TENANT_ADMINs of its own tenant only.
            func newUser(_ name: String, _ role: String, tenant: UUID?) -> [String: Any] {
                var body: [String: Any] = ["username": name, "email": "\(name)@example.com", "password": "long-enough-pw", "role": role]
                if let tenant { body["tenantId"] = tenant.uuidString }
                return body
            }
            refused(try await api.post("/api/v1/users", token: tenantAdminToken, newUser("boss", "ADMIN", tenant: home.id)), "role", "tenant admin makes ADMIN")
            refused(try await api.post("/api/v1/users", token: tenantAdminToken, newUser("ops", "OPERATOR", tenant: home.id)), "role", "tenant admin makes OPERATOR")
            refused(try await api.post("/api/v1/users", token: tenantAdminToken, newUser("mover", "USER", tenant: elsewhere.id)), "tenantId", "tenant admin creates elsewhere")
            let placed = try await api.post("/api/v1/users", token: tenantAdminToken, newUser("placed", "USER", tenant: nil))
            #expect(placed.status == 201)
            #expect(try placed.decode(User.self).tenantId == home.id)  // defaults to its own tenant

            refused(try await api.patch("/api/v1/users/\(user.id)", token: tenantAdminToken, ["role": "ADMIN"]), "role", "tenant admin promotes to ADMIN")
            refused(try await api.patch("/api/v1/users/\(user.id)", token: tenantAdminToken, ["tenantId": elsewhere.id.uuidString]), "tenantId", "tenant admin moves a user out")
            refused(try await api.patch("/api/v1/users/\(tenantAdmin.id)", token: tenantAdminToken, ["role": "USER"]), "role", "tenant admin changes own role")
            #expect(try await api.patch("/api/v1/users/\(user.id)", token: tenantAdminToken, ["role": "TENANT_ADMIN", "status": "LOCKED"]).status == 200)

            // A TENANT_ADMIN describes its tenant but does not set its name, status, VLAN or quota.
            for (field, value) in [("name", "renamed" as Any), ("status", "SUSPENDED"), ("vlanId", 7), ("quotaConfig", ["cpuCores": 1])] {
                refused(try await api.patch("/api/v1/tenants/\(home.id)", token: tenantAdminToken, [field: value]), field, "tenant admin sets tenant \(field)")
            }
            #expect(try await api.patch("/api/v1/tenants/\(home.id)", token: tenantAdminToken, ["description": "ours"]).status == 200)

            // An ADMIN may do all of it.
            let moved = try await api.patch("/api/v1/users/\(user.id)", token: admin, ["tenantId": elsewhere.id.uuidString, "role": "USER", "status": "ACTIVE"])
            #expect(moved.status == 200)
            #expect(try moved.decode(User.self).tenantId == elsewhere.id)
            // ...within the model's own rules: a USER needs a tenant.
            #expect(try await api.patch("/api/v1/users/\(user.id)", token: admin, ["tenantId": NSNull()]).problemFields == ["tenantId"])

            // System-made fields are read-only for everyone, ADMIN included.
            for field in ["id", "createdAt", "updatedAt", "lastLoginAt", "username", "passwordHash"] {
                let response = try await api.patch("/api/v1/users/\(user.id)", token: admin, [field: "x"])
                #expect(response.status == 400, "\(field): \(response.text)")
                #expect(response.problemFields == [field], "\(field): \(response.text)")
            }
            refused(try await api.patch("/api/v1/tenants/\(home.id)", token: tenantAdminToken, ["adminUserId": user.id.uuidString]), "adminUserId", "tenant admin sets adminUserId")
            #expect(try await api.patch("/api/v1/tenants/\(home.id)", token: admin, ["createdBy": user.id.uuidString]).problemFields == ["createdBy"])
        }
    }
}
