import Foundation
import Logging
import SQLKit
import Testing
@testable import ZedgeCoordinator

/// Group commit on SQLite's writer (`SQLiteWriteGroup`, issue #14): transactions that queue for the writer share one
/// commit; one that throws undoes only its own changes; each caller is answered only once its changes are committed
/// (a reader connection sees them); an error that undoes the whole SQLite transaction fails every member and keeps
/// nothing of them; a session that is not a member commits the group before it runs.
@Suite("SQLite write groups")
struct SQLiteWriteGroupTests {
    /// A store with a table `t` (unique `tag`) and a trigger that undoes the whole transaction for tag 'doom'.
    static func withStore(group: SQLiteWriteGroup = SQLiteWriteGroup(maximumWait: .seconds(3600)),
                          _ body: (SQLiteStore, Database) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-group-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"),
                                    group: group)  // by default no commit for age: counts are exact
        try await store.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE)").run()
        try await store.raw("""
            CREATE TRIGGER t_doom BEFORE INSERT ON t WHEN NEW.tag = 'doom' BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END
            """).run()
        try await body(store, Database(engine: .sqlite, sql: store))
        await store.close()
    }

    /// The tags a reader connection sees (committed rows only).
    static func committedTags(_ store: SQLiteStore) async throws -> Set<String> {
        Set(try await store.raw("SELECT tag FROM t").all().map { try $0.decode(column: "tag", as: String.self) })
    }

    /// A transaction (tag 'holder') that holds the writer until `release` yields; returned once it holds it.
    static func holdTheWriter(_ database: Database) async -> (holder: Task<Void, any Error>, release: AsyncStream<Void>.Continuation) {
        let (released, release) = AsyncStream<Void>.makeStream()
        let (holding, holds) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await database.transaction { tx in
                try await tx.db.raw("INSERT INTO t (tag) VALUES ('holder')").run()
                holds.yield()
                for await _ in released { break }
            }
        }
        for await _ in holding { break }
        return (holder, release)
    }

    /// Holds the writer in a transaction (tag 'holder') while `count` transactions queue behind it, in order, each
    /// running `member(n)`; then lets go. Returns the holder's outcome, then each member's.
    static func queuedBehindAHolder(
        _ store: SQLiteStore, _ database: Database, count: Int,
        _ member: @escaping @Sendable (Int, Transaction) async throws -> Void
    ) async throws -> [Result<Void, any Error>] {
        let (holder, release) = await holdTheWriter(database)
        // Each member starts once the one before it waits for the writer: they queue in order.
        var members: [Task<Result<Void, any Error>, Never>] = []
        let waitLimit = ContinuousClock.now + .seconds(60)
        for n in 0..<count {
            members.append(Task { () -> Result<Void, any Error> in
                do {
                    try await database.transaction { tx in try await member(n, tx) }
                    // Answered only after the commit: a reader connection sees the member's row now.
                    #expect(try await committedTags(store).contains("m\(n)"), "member \(n) answered before its commit")
                    return .success(())
                } catch {
                    return .failure(error)
                }
            })
            while store.writerLock.waitingCount < n + 1, ContinuousClock.now < waitLimit { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(store.writerLock.waitingCount == count)
        release.yield()
        var outcomes: [Result<Void, any Error>] = [await holder.result]
        for member in members { outcomes.append(await member.value) }
        return outcomes
    }

    @Test func queuedTransactionsShareOneCommitAndAThrowingOneUndoesOnlyItself() async throws {
        struct Refused: Error {}
        try await Self.withStore { store, database in
            let before = store.writerUse
            let outcomes = try await Self.queuedBehindAHolder(store, database, count: 10) { n, tx in
                try await tx.db.raw("INSERT INTO t (tag) VALUES (\(bind: "m\(n)"))").run()
                if n == 3 { throw Refused() }
                if n == 6 {  // a statement that fails undoes only itself; the member goes on
                    await #expect(throws: SQLiteStoreError.self) { try await tx.db.raw("INSERT INTO t (tag) VALUES ('holder')").run() }
                }
            }
            let use = store.writerUse
            #expect(use.commits - before.commits == 1, "the holder and its 10 waiters committed once: \(before) → \(use)")
            #expect(throws: Never.self) { try outcomes[0].get() }
            for (n, outcome) in outcomes.dropFirst().enumerated() {
                if n == 3 {
                    #expect(throws: Refused.self) { try outcome.get() }
                } else {
                    #expect(throws: Never.self) { try outcome.get() }
                }
            }
            #expect(try await Self.committedTags(store) == Set(["holder"] + (0..<10).filter { $0 != 3 }.map { "m\($0)" }))
        }
    }

    /// A group commits once it has `maximumMembers`, or once its first member has waited `maximumWait`.
    @Test(arguments: [(SQLiteWriteGroup(maximumMembers: 3, maximumWait: .seconds(3600)), 4), (SQLiteWriteGroup(maximumWait: .zero), 11)])
    func aGroupIsBounded(group: SQLiteWriteGroup, commits: Int) async throws {
        try await Self.withStore(group: group) { store, database in
            let before = store.writerUse
            let outcomes = try await Self.queuedBehindAHolder(store, database, count: 10) { n, tx in
                try await tx.db.raw("INSERT INTO t (tag) VALUES (\(bind: "m\(n)"))").run()
            }
            #expect(outcomes.allSatisfy { (try? $0.get()) != nil })
            #expect(store.writerUse.commits - before.commits == commits, "holder and 10 members, \(group.maximumMembers) a group at most")
        }
    }

    @Test func anErrorThatUndoesTheWholeTransactionFailsEveryMemberAndKeepsNothingOfThem() async throws {
        try await Self.withStore { store, database in
            let outcomes = try await Self.queuedBehindAHolder(store, database, count: 4) { n, tx in
                try await tx.db.raw("INSERT INTO t (tag) VALUES (\(bind: n == 2 ? "doom" : "m\(n)"))").run()
            }
            // The holder and members 0 and 1 were in the group that member 2's RAISE(ROLLBACK) undid; member 3 came after.
            for n in 0..<4 { #expect(throws: (any Error).self) { try outcomes[n].get() } }
            for n in 0..<3 {
                if case .failure(let error) = outcomes[n] { #expect(error is SQLiteWriteGroup.RolledBack, "\(n): \(error)") }
            }
            #expect(throws: Never.self) { try outcomes[4].get() }
            #expect(try await Self.committedTags(store) == ["m3"])
            // The writer works on after it.
            try await database.transaction { tx in try await tx.db.raw("INSERT INTO t (tag) VALUES ('after')").run() }
            try await store.raw("INSERT INTO t (tag) VALUES ('single')").run()
            #expect(try await Self.committedTags(store) == ["m3", "after", "single"])
        }
    }

    @Test func aSessionThatIsNotAMemberCommitsTheGroupFirst() async throws {
        try await Self.withStore { store, database in
            let before = store.writerUse
            let (holder, release) = await Self.holdTheWriter(database)
            // A transaction with foreign keys off runs in a session of its own (it sets a pragma outside a transaction).
            let session = Task {
                try await database.transaction(foreignKeysOff: true) { tx in
                    try await tx.db.raw("SELECT tag FROM t").all().count
                }
            }
            let waitLimit = ContinuousClock.now + .seconds(60)
            while !store.writerLock.hasWaiters, ContinuousClock.now < waitLimit { try await Task.sleep(for: .milliseconds(5)) }
            release.yield()
            try await holder.value
            #expect(try await session.value == 1)
            #expect(try await Self.committedTags(store) == ["holder"])
            #expect(store.writerUse.commits - before.commits == 1)
        }
    }

    /// Each member runs in a SAVEPOINT, so SQLite copies every page it changes to the sub-journal. Past 64 KiB that
    /// spilled to a temporary file (`/var/tmp/etilqs_*`, created and unlinked at once, still open while the
    /// transaction runs) for every large member: `temp_store = MEMORY` keeps it in memory (issue #14).
    @Test func aLargeMemberKeepsItsSubJournalInMemory() async throws {
        /// SQLite's temporary files this process holds open (unlinked, so only /proc/self/fd still names them).
        @Sendable func temporaryFiles() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
            }.filter { $0.contains("etilqs_") }
        }
        try await Self.withStore { store, database in
            // ~130 pages of rows, committed: the member below changes pages that predate its savepoint.
            try await store.raw("""
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
                INSERT INTO t (tag) SELECT printf('%d-', i) || hex(zeroblob(500)) FROM n
                """).run()
            let (changed, open) = try await database.transaction { tx in
                try await tx.db.raw("UPDATE t SET tag = tag || 'x'").run()
                let changed = try await tx.db.raw("SELECT COUNT(*) AS n FROM t WHERE tag LIKE '%x'").first()?.decode(column: "n", as: Int.self)
                return (changed, try temporaryFiles())
            }
            #expect(changed == 400)
            #expect(open.isEmpty, "a sub-journal spilled to a file: \(open)")
            let modes = try await database.transaction { tx in
                try await tx.db.raw("PRAGMA temp_store").first()?.decode(column: "temp_store", as: Int.self)
            }
            #expect(modes == 2, "the writer's temp_store is MEMORY (2)")
            #expect(try await store.raw("SELECT COUNT(*) AS n FROM t WHERE tag LIKE '%x'").first()?.decode(column: "n", as: Int.self) == 400)
        }
    }
}
