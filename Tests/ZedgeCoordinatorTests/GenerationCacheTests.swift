import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// `GenerationCache` and the user repository that keeps one (SQLite): a user found by id is read once, and every change
/// to the user's row through `SQLUserRepository` is seen by the next `find`.
@Suite struct GenerationCacheTests {
    @Test func keepsUsersUntilTheyAreInvalidated() {
        let cache = GenerationCache<UUID, User>(capacity: 100)
        let user = User(username: "a", email: "a@example.com", role: .user, status: .active)
        let other = User(username: "b", email: "b@example.com", role: .user, status: .active)
        let (missed, generation) = cache.lookup(user.id)
        #expect(missed == nil)
        cache.store(user, for: user.id, readAt: generation)
        cache.store(other, for: other.id, readAt: generation)
        #expect(cache.lookup(user.id).value == user)
        cache.invalidate(user.id)
        #expect(cache.lookup(user.id).value == nil)
        #expect(cache.lookup(other.id).value == other)
    }

    /// A read that started before a change and ends after its invalidation must not cache what it read.
    @Test func aReadThatRacedWithAChangeIsNotKept() {
        let cache = GenerationCache<UUID, User>(capacity: 100)
        let user = User(username: "a", email: "a@example.com", role: .admin, status: .active)
        let (_, before) = cache.lookup(user.id)
        cache.invalidate(user.id)  // the demotion lands meanwhile
        cache.store(user, for: user.id, readAt: before)
        #expect(cache.lookup(user.id).value == nil)
    }

    @Test func staysWithinItsCapacity() {
        let cache = GenerationCache<UUID, User>(capacity: 3)
        for index in 0..<10 {
            let user = User(username: "u\(index)", email: "u\(index)@example.com", role: .user, status: .active)
            cache.store(user, for: user.id, readAt: cache.lookup(user.id).generation)
        }
        #expect(cache.count <= 3)
    }

    /// Every write of `SQLUserRepository` reaches the next `find`, which otherwise answers from the cache.
    @Test func everyChangeThroughTheRepositoryIsSeenByTheNextFind() async throws {
        try await TestEngine.sqlite.withMigratedDatabase { database in
            let users = SQLUserRepository(database: database)
            let cache = try #require(users.cache)
            let admin = User(username: "keeper", email: "keeper@example.com", role: .admin, status: .active)
            try await users.insert(admin, passwordHash: "x")
            var user = User(username: "u", email: "u@example.com", role: .admin, status: .active)
            try await users.insert(user, passwordHash: "x")
            #expect(try await users.find(user.id)?.role == .admin)
            #expect(cache.lookup(user.id).value?.role == .admin)

            user.role = .user
            #expect(try await users.updateKeepingAnActiveAdmin(user))
            #expect(cache.lookup(user.id).value == nil)
            #expect(try await users.find(user.id)?.role == .user)

            user.status = .locked
            #expect(try await users.update(user))
            #expect(try await users.find(user.id)?.status == .locked)

            let at = Date(timeIntervalSince1970: 1_800_000_000)
            try await users.recordLogin(user.id, at: at)
            #expect(try await users.find(user.id)?.lastLoginAt == at)

            _ = try await users.find(user.id)
            try await users.setPasswordHash("y", for: user.id)
            #expect(cache.lookup(user.id).value == nil)

            _ = try await users.find(user.id)
            #expect(try await users.deactivate(user.id, at: at))
            #expect(try await users.find(user.id)?.status == .inactive)

            _ = try await users.find(user.id)
            #expect(try await users.delete(user.id))
            #expect(try await users.find(user.id) == nil)
        }
    }

    /// PostgreSQL may have several replicas, each changing users: nothing is cached there.
    @Test func postgresReadsEachTime() async throws {
        try await TestEngine.postgres.withMigratedDatabase { database in
            #expect(SQLUserRepository(database: database).cache == nil)
        }
    }
}
