import Foundation
import Logging
import SQLKit
import Synchronization
import Testing
@testable import ZedgeCoordinator

/// SQLite's one writer (issue #14): a transaction that waits for the writer gets it on the writer's own thread;
/// single writes made while a
/// transaction holds the writer run when it lets go, before the next transaction, each with its own outcome; the
/// store accounts for the writer's use; a closed store fails statements instead of hanging.
@Suite("SQLite writer")
struct SQLiteWriterTests {
    @Test func singleWritesQueuedBehindATransactionRunBeforeTheNextOne() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"),
                                    group: SQLiteWriteGroup(maximumWait: .seconds(3600)))  // no commit for age: counts are exact
        try await store.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE)").run()
        try await store.raw("INSERT INTO t (tag) VALUES ('taken')").run()
        let database = Database(engine: .sqlite, sql: store)
        let before = store.writerUse

        let (released, release) = AsyncStream<Void>.makeStream()
        let (holding, holds) = AsyncStream<Void>.makeStream()
        let first = Task {
            try await database.transaction { tx in
                try await tx.db.raw("INSERT INTO t (tag) VALUES ('first')").run()
                holds.yield()
                for await _ in released { break }
            }
        }
        for await _ in holding { break }
        // 20 single writes while the first transaction holds the writer; every fifth collides with a tag taken.
        let singles = Task {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        do {
                            try await store.raw("INSERT INTO t (tag) VALUES (\(bind: n % 5 == 0 ? "taken" : "single-\(n)"))").run()
                            return true
                        } catch let error as SQLiteStoreError where error.isUniqueViolation {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while store.writerLock.queuedStatements < 20, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(store.writerLock.queuedStatements == 20)
        let second = Task {
            try await database.transaction { tx in
                (try await tx.db.raw("SELECT COUNT(*) AS n FROM t").first()?.decode(column: "n", as: Int.self) ?? -1, onWriterThread(store))
            }
        }
        let waitLimit = ContinuousClock.now + .seconds(60)
        while !store.writerLock.hasWaiters, ContinuousClock.now < waitLimit { try await Task.sleep(for: .milliseconds(5)) }
        #expect(store.writerLock.hasWaiters, "the second transaction waits for the writer")
        release.yield()
        try await first.value
        let outcomes = try await singles.value
        #expect(outcomes.filter { $0 }.count == 16 && outcomes.filter { !$0 }.count == 4, "\(outcomes)")
        // The second transaction came after the singles had queued, and sees them all: 1 + 1 + 16 rows.
        // It waited for the writer, and was handed it on the writer's own thread (not a busy cooperative one).
        let (rows, thread) = try await second.value
        #expect(rows == 18)
        #expect(thread)
        let use = store.writerUse
        #expect(use.acquisitions - before.acquisitions < 20, "the single writes were run by the holder: \(before) → \(use)")
        #expect(use.heldNanoseconds > before.heldNanoseconds)
        // Counted, not timed: one group (`SQLiteWriteGroup`) held all of it, since the second transaction was waiting
        // when the first let go: BEGIN, each transaction's SAVEPOINT, statement and RELEASE, the 20 single writes (the
        // 4 that failed ran too, and undid only themselves), one COMMIT; and pages appended to the WAL by it.
        #expect(use.statements - before.statements == 1 + 3 + 20 + 3 + 1, "\(before) → \(use)")
        #expect(use.commits - before.commits == 1, "\(before) → \(use)")
        #expect(use.walPagesWritten - before.walPagesWritten >= 1, "\(before) → \(use)")

        await store.close()
        await #expect(throws: SQLiteStoreError.self) { try await database.transaction { _ in } }
        await #expect(throws: SQLiteStoreError.self) { try await store.raw("INSERT INTO t (tag) VALUES ('late')").run() }
    }

    /// `Database.pointReads` (issue #14 item 3): a plain SELECT runs on the caller's own thread, where the store's reads
    /// go to the thread pool; it sees what was committed; any other statement goes to the writer as through the store.
    @Test func pointReadsRunOnTheCallersThread() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"))
        try await store.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE)").run()
        try await store.raw("INSERT INTO t (id, tag) VALUES (1, 'one')").run()
        let database = Database(engine: .sqlite, sql: store)

        /// Reads row `id` through `db`: its tag, and whether the row came on the thread that asked.
        func read(_ id: Int, on db: any SQLDatabase) async throws -> (tag: String?, onCaller: Bool) {
            let seen = Mutex<(tag: String?, thread: pthread_t?)>((nil, nil))
            let caller = pthread_self()  // no suspension between here and the row for a read run inline
            try await db.execute(sql: SQLRaw("SELECT tag FROM t WHERE id = \(id)")) { row in
                let tag = try? row.decode(column: "tag", as: String.self)
                seen.withLock { $0 = (tag, pthread_self()) }
            }
            return seen.withLock { ($0.tag, $0.thread.map { pthread_equal($0, caller) != 0 } ?? false) }
        }
        let pooled = try await read(1, on: store)
        #expect(pooled.tag == "one")
        #expect(!pooled.onCaller, "the store's own reads go to the thread pool")
        let inline = try await read(1, on: database.pointReads)
        #expect(inline.tag == "one")
        #expect(inline.onCaller, "a point read runs on the caller's thread")

        // A write through it goes to the writer, and the next point read sees it committed.
        let statementsBefore = store.writerUse.statements
        try await database.pointReads.raw("INSERT INTO t (id, tag) VALUES (2, 'two')").run()
        #expect(try await read(2, on: database.pointReads).tag == "two")
        #expect(store.writerUse.statements > statementsBefore, "the writer ran the insert")
        await store.close()
    }

    /// A brief transaction that finds the writer free runs at once on its caller's thread (no hop to the writer's thread
    /// and back, issue #14 item 3); any other runs on the writer's thread, free or not, so that a batch never holds a
    /// cooperative thread; one that has to wait is handed the writer on the writer's thread
    /// (`singleWritesQueuedBehindATransactionRunBeforeTheNextOne`). Its changes are committed when it returns.
    @Test func aBriefTransactionThatFindsTheWriterFreeRunsOnItsCallersThread() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"))
        try await store.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE)").run()
        let database = Database(engine: .sqlite, sql: store)

        for brief in [true, false] {
            let caller = pthread_self()  // no suspension between here and the body when it runs inline
            let (inside, onWriter) = try await database.transaction(brief: brief) { tx in
                try await tx.db.raw("INSERT INTO t (tag) VALUES (\(bind: brief ? "brief" : "batch"))").run()
                return (pthread_self(), onWriterThread(store))
            }
            #expect((pthread_equal(inside, caller) != 0) == brief, "brief: \(brief)")
            #expect(onWriter == !brief, "brief: \(brief)")
        }
        let tags = try await store.raw("SELECT tag FROM t ORDER BY id").all().map { try $0.decode(column: "tag", as: String.self) }
        #expect(tags == ["brief", "batch"], "each committed once its transaction returned")
        await store.close()
    }

    /// The writer's thread is named and runs at nice -10 where the process may lower a nice value (root here, or an
    /// RLIMIT_NICE that allows it: the unit's `LimitNICE=-10`); where it may not, it runs at the process's priority
    /// and says why. What the kernel reports for the thread (`/proc/self/task/<tid>/stat`) agrees.
    @Test func theWritersThreadIsNamedAndRaisesItsPriorityWhereAllowed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"))
        var limit = rlimit()
        #expect(getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit) == 0)
        let allowed = geteuid() == 0 || limit.rlim_cur >= 30  // RLIMIT_NICE n allows nice values down to 20 - n
        let priority = store.writerThread.priority
        #expect(priority.asked == ThreadExecutor.writerNice)
        if allowed {
            #expect(priority == .init(asked: -10, nice: -10, refusal: nil))
        } else {
            #expect(priority.nice == getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
            #expect(priority.refusal == EPERM || priority.refusal == EACCES, "\(priority)")
        }
        // The kernel's view: every thread named sqlite-writer (this store's and those of suites running beside it).
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let niceValues = tasks.compactMap { tid -> Int? in
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == "sqlite-writer",
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After "pid (comm)": state is field 3, nice field 19.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return Int(fields[16])
        }
        #expect(!niceValues.isEmpty)
        if allowed { #expect(niceValues.allSatisfy { $0 == -10 }, "\(niceValues)") }
        withExtendedLifetime(store) {}
    }
}

/// Whether this runs on the store's writer thread (a synchronous call: what thread async code is on shows only here).
private func onWriterThread(_ store: SQLiteStore) -> Bool { store.writerThread.isCurrent }
