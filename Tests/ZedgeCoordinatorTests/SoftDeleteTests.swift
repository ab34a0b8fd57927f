import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #12, fault 6: a user who ever owned an instance could never be deleted (DELETED instances keep
/// `user_id` with RESTRICT; 500 on SQLite), and deleting a user lost who did what in the audit log. Users
/// and tenants are now deleted softly, through their status (INACTIVE), as the seed's design note 3 says.
@Suite("Soft deletes of users and tenants", .serialized)
struct SoftDeleteTests {
    @Test(arguments: TestEngine.all)
    func aUserWhoOwnedAnInstanceIsDeletedSoftlyAndKeepsItsHistory(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.71.0.1")
            let vm = try await f.running("owned", on: host)
            let userId = f.user.user.id
            let path = "/api/v1/users/\(userId)"
            let login = try await c.client.login(f.user.user.username, f.user.password)
            let key = try #require(try await c.client.post("/api/v1/api-keys", token: f.user.token, ["name": "k"]).json()["key"] as? String)

            // A live instance keeps its owner: 409 naming it, nothing written.
            let refused = try await c.client.delete(path, token: f.admin)
            #expect(refused.status == 409, "\(refused.text)")
            #expect(refused.problemFields == ["instances.userId"], "\(refused.text)")
            #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 200)

            // Once the instance is DELETED (its row keeps user_id), the user can go.
            #expect(try await c.client.delete("/api/v1/instances/\(vm.id)", token: f.user.token).status == 202)
            let deletes = try await f.lease(host.credential)
            #expect(deletes.map(\.kind) == [.vmDelete])
            try await f.finish(deletes[0], credential: host.credential)
            #expect(try await f.instance(vm.id).instance.status == .deleted)
            let deleted = try await c.client.delete(path, token: f.admin)
            #expect(deleted.status == 204, "\(deleted.text)")

            // Gone for GET, PATCH and DELETE.
            #expect(try await c.client.get(path, token: f.admin).status == 404)
            #expect(try await c.client.patch(path, token: f.admin, ["email": "back@example.com"]).status == 404)
            #expect(try await c.client.delete(path, token: f.admin).status == 404)
            // It cannot sign in, and nothing it held still works.
            #expect(try await c.client.post("/api/v1/auth/login", token: nil, ["username": f.user.user.username, "password": f.user.password]).status == 401)
            #expect(try await c.client.get("/api/v1/auth/me", token: key).status == 401)
            #expect(try await c.client.get("/api/v1/auth/me", token: f.user.token).status == 401)
            #expect(try await c.client.post("/api/v1/auth/refresh", token: nil, ["refreshToken": login.refreshToken]).status == 401)
            let keys = try await c.client.get("/api/v1/api-keys?userId=\(userId)", token: f.admin).decode(Page<ApiKey>.self).items
            #expect(!keys.isEmpty && keys.allSatisfy { $0.revokedAt != nil })

            // Its history keeps its id: the audit rows it made, and its DELETED instance.
            let audit = try await c.client.get("/api/v1/audit-logs?userId=\(userId)&limit=500", token: f.admin).decode(Page<AuditLog>.self).items
            #expect(audit.contains { $0.action == "instance.create" }, "\(audit.map(\.action))")
            #expect(audit.contains { $0.action == "api-key.create" }, "\(audit.map(\.action))")
            let deletion = try await c.client.get("/api/v1/audit-logs?action=user.delete&status=SUCCESS", token: f.admin).decode(Page<AuditLog>.self).items
            #expect(deletion.contains { $0.resourceId == userId })
            #expect(try await f.instance(vm.id).instance.userId == userId)

            // Listed only when asked for by status.
            let listed = try await c.client.get("/api/v1/users?limit=500", token: f.admin).decode(Page<User>.self).items
            #expect(!listed.contains { $0.id == userId })
            let inactive = try await c.client.get("/api/v1/users?status=INACTIVE", token: f.admin).decode(Page<User>.self).items
            #expect(inactive.map(\.id) == [userId])

            // Its username and email stay taken; INACTIVE is not a status a body sets.
            let again = try await c.client.post("/api/v1/users", token: f.admin, [
                "username": f.user.user.username, "email": "other@example.com", "password": "password-123", "role": "USER",
                "tenantId": f.tenant.id.uuidString,
            ])
            #expect(again.status == 409 && again.problemFields == ["username"], "\(again.text)")
            let other = try await c.createUser("other-user", role: .user, tenant: f.tenant.id, token: f.admin)
            let patched = try await c.client.patch("/api/v1/users/\(other.user.id)", token: f.admin, ["status": "INACTIVE"])
            #expect(patched.status == 400 && patched.problemFields == ["status"], "\(patched.text)")
            let created = try await c.client.post("/api/v1/users", token: f.admin, [
                "username": "born-inactive", "email": "born@example.com", "password": "password-123", "role": "USER",
                "tenantId": f.tenant.id.uuidString, "status": "INACTIVE",
            ])
            #expect(created.status == 400 && created.problemFields == ["status"], "\(created.text)")
            // A deleted user joins no group.
            let group = try await c.client.post("/api/v1/user-groups", token: f.admin, ["name": "g", "tenantId": f.tenant.id.uuidString])
                .decode(UserGroup.self)
            #expect(try await c.client.post("/api/v1/user-groups/\(group.id)/members", token: f.admin, ["userId": userId.uuidString]).status == 422)
        }
    }

    @Test(arguments: TestEngine.all)
    func aTenantWhoseUsersAndInstancesAreDeletedIsDeletedSoftly(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.72.0.1")
            let vm = try await f.running("owned", on: host)
            let path = "/api/v1/tenants/\(f.tenant.id)"

            // Live users and instances keep it: 409 naming each kind.
            let refused = try await c.client.delete(path, token: f.admin)
            #expect(refused.status == 409, "\(refused.text)")
            #expect(Set(refused.problemFields) == ["users.tenantId", "instances.tenantId"], "\(refused.text)")

            #expect(try await c.client.delete("/api/v1/instances/\(vm.id)", token: f.user.token).status == 202)
            try await f.finish(try #require(try await f.lease(host.credential).first), credential: host.credential)
            let stillUser = try await c.client.delete(path, token: f.admin)
            #expect(stillUser.status == 409 && stillUser.problemFields == ["users.tenantId"], "\(stillUser.text)")
            #expect(try await c.client.delete("/api/v1/users/\(f.user.user.id)", token: f.admin).status == 204)

            // Its INACTIVE user and DELETED instance no longer keep it.
            let deleted = try await c.client.delete(path, token: f.admin)
            #expect(deleted.status == 204, "\(deleted.text)")
            #expect(try await c.client.get(path, token: f.admin).status == 404)
            #expect(try await c.client.patch(path, token: f.admin, ["description": "back"]).status == 404)
            #expect(try await c.client.delete(path, token: f.admin).status == 404)
            let listed = try await c.client.get("/api/v1/tenants?limit=500", token: f.admin).decode(Page<Tenant>.self).items
            #expect(!listed.contains { $0.id == f.tenant.id })
            let inactive = try await c.client.get("/api/v1/tenants?status=INACTIVE", token: f.admin).decode(Page<Tenant>.self).items
            #expect(inactive.map(\.id) == [f.tenant.id])
            #expect(try await f.instance(vm.id).instance.tenantId == f.tenant.id)

            // Nothing new goes into it; its name stays taken; INACTIVE is not a status a body sets.
            let user = try await c.client.post("/api/v1/users", token: f.admin, [
                "username": "late", "email": "late@example.com", "password": "password-123", "role": "USER", "tenantId": f.tenant.id.uuidString,
            ])
            #expect(user.status == 422 && user.problemFields == ["tenantId"], "\(user.text)")
            let group = try await c.client.post("/api/v1/user-groups", token: f.admin, ["name": "late", "tenantId": f.tenant.id.uuidString])
            #expect(group.status == 422, "\(group.text)")
            let again = try await c.client.post("/api/v1/tenants", token: f.admin, ["name": f.tenant.name])
            #expect(again.status == 409 && again.problemFields == ["name"], "\(again.text)")
            let other = try await c.createTenant("other-tenant", token: f.admin)
            let patched = try await c.client.patch("/api/v1/tenants/\(other.id)", token: f.admin, ["status": "INACTIVE"])
            #expect(patched.status == 400 && patched.problemFields == ["status"], "\(patched.text)")
        }
    }
}
