import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// There is always an ACTIVE ADMIN: the bootstrap admin is made only for an empty users table, so demoting,
/// locking or deactivating the last one would lock every operator out for good.
@Suite struct LastAdminTests {
    @Test(arguments: TestEngine.all)
    func theLastActiveAdminCannotBeDemotedOrLocked(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let me = try await c.client.get("/api/v1/auth/me", token: admin).decode(User.self)
            let demote = try await c.client.patch("/api/v1/users/\(me.id)", token: admin, ["role": "OPERATOR"])
            #expect(demote.status == 409, "\(demote.text)")
            #expect(demote.problemFields == ["role"])
            let lock = try await c.client.patch("/api/v1/users/\(me.id)", token: admin, ["status": "LOCKED"])
            #expect(lock.status == 409, "\(lock.text)")
            #expect(lock.problemFields == ["status"])
            // Nothing was written: still an ACTIVE ADMIN who reaches admin routes.
            let after = try await c.client.get("/api/v1/auth/me", token: admin).decode(User.self)
            #expect(after.role == .admin && after.status == .active)
            #expect(try await c.client.get("/api/v1/tenants", token: admin).status == 200)

            // With a second ADMIN either may step down, but not both, even at the same time.
            let (second, secondToken, _) = try await c.createUser("second-admin", role: .admin, tenant: nil, token: admin)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await c.client.patch("/api/v1/users/\(second.id)", token: admin, ["role": "OPERATOR"]).status }
                group.addTask { try await c.client.patch("/api/v1/users/\(me.id)", token: secondToken, ["role": "OPERATOR"]).status }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1, "\(statuses)")
            // The loser is refused as what it is by then: 409 while still ADMIN, else 403 or 404 (an OPERATOR reaches only itself).
            #expect(statuses.allSatisfy { [200, 403, 404, 409].contains($0) }, "\(statuses)")
            // The one still ADMIN lists the ACTIVE ADMINs: itself only.
            var survivors: [String] = []
            for token in [admin, secondToken] where try await c.client.get("/api/v1/auth/me", token: token).decode(User.self).role == .admin {
                survivors.append(token)
            }
            #expect(survivors.count == 1)
            let admins = try await c.client.get("/api/v1/users?role=ADMIN&status=ACTIVE", token: try #require(survivors.first))
                .decode(Page<User>.self)
            #expect(admins.items.count == 1, "\(admins.items.map(\.username))")
        }
    }

    /// Deleting a user makes it INACTIVE, and an INACTIVE ADMIN is no admin: two admins deleting each other at
    /// once cannot both succeed, and the survivor is then the last ACTIVE ADMIN, kept as such.
    @Test(arguments: TestEngine.all)
    func softDeletesKeepAnActiveAdmin(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let admin = try await c.adminToken()
            let me = try await c.client.get("/api/v1/auth/me", token: admin).decode(User.self)
            let (second, secondToken, _) = try await c.createUser("second-admin", role: .admin, tenant: nil, token: admin)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await c.client.delete("/api/v1/users/\(second.id)", token: admin).status }
                group.addTask { try await c.client.delete("/api/v1/users/\(me.id)", token: secondToken).status }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 204 }.count == 1, "\(statuses)")
            // The loser is refused as what it is by then: 401 once INACTIVE, else 409 (the last ACTIVE ADMIN).
            #expect(statuses.allSatisfy { [204, 401, 409].contains($0) }, "\(statuses)")
            let survivor = try await c.client.get("/api/v1/auth/me", token: admin).status == 200 ? admin : secondToken
            let survivorUser = try await c.client.get("/api/v1/auth/me", token: survivor).decode(User.self)
            #expect(survivorUser.role == .admin && survivorUser.status == .active)
            let admins = try await c.client.get("/api/v1/users?role=ADMIN", token: survivor).decode(Page<User>.self)
            #expect(admins.items.map(\.id) == [survivorUser.id])
            let demote = try await c.client.patch("/api/v1/users/\(survivorUser.id)", token: survivor, ["role": "OPERATOR"])
            #expect(demote.status == 409 && demote.problemFields == ["role"], "\(demote.text)")
        }
    }
}
