import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import Synchronization
import ZedgeCore

/// The coordinator's SQLite file as an `SQLDatabase`: one writer connection and reader connections, over the
/// system's libsqlite3 with prepared statements kept per connection (`SQLiteHandle`).
///
/// Why not SQLiteNIO's connections (issue #14): SQLite has one writer, and a transaction holds it from BEGIN to
/// COMMIT. Through SQLiteNIO each of its statements went to a thread pool and back and then waited for a
/// cooperative thread to resume the transaction on: ~200 µs a statement with creates in flight, ten times what
/// SQLite took, and the writer was held that long. Here a transaction runs on the writer's own thread
/// (`ThreadExecutor`), one at a time (`WriterLock`, FIFO): its statements follow each other without a hop, and the
/// next transaction takes over without waiting for a cooperative thread; a brief one that finds the writer free runs
/// at once on its caller's thread (`withWriter`). A single write joins the queue of
/// statements the holder runs before the writer passes on (`WriterLock.run`). Transactions and single writes that
/// queue meanwhile share one commit (`SQLiteWriteGroup`). Statements are short (WAL,
/// `synchronous = NORMAL`: no fsync; checkpoints run off the writer, `SQLiteCheckpointer`). Reads are a plain SELECT outside a transaction
/// (`isRead`); they run on NIO's blocking-I/O thread pool on reader connections (`query_only`), beside the writer (in
/// WAL mode readers never wait for it and see every transaction committed when they start); reads of one row by its
/// key run on the caller's thread instead (`pointReads`).
///
/// One SQLite library per file and process: POSIX locks are per process, so two copies of SQLite in one process
/// would not see each other's locks. Every connection to the coordinator's file is made here.
///
/// `@unchecked Sendable`: a wrapper of C handles (DESIGN §8). The writer's handle is used only by the holder of
/// `writerLock`; a reader's only by the thread that took it from `idleReaders` (a `Mutex`).
final class SQLiteStore: SQLDatabase, @unchecked Sendable {
    let path: String
    let logger: Logger
    private let writer: SQLiteHandle
    let checkpointer: SQLiteCheckpointer
    let writerLock = WriterLock()
    /// The writer's open group of transactions and single writes (used by the holder only).
    private let group: SQLiteWriteGroup
    /// Where transactions run.
    let writerThread = ThreadExecutor(name: "sqlite-writer", nice: ThreadExecutor.writerNice)
    private let idleReaders = Mutex<[SQLiteHandle]>([])
    private let threadPool: NIOThreadPool
    static let encoder = SQLiteDataEncoder()
    /// The WAL's size past which it is checkpointed, in bytes: 16 MiB (SQLite's own automatic checkpoint runs at 1,000
    /// pages, 4 MiB of 4 KiB pages). A checkpoint copies each page once however often the WAL holds it, and creates
    /// rewrite the same index, counter and machine pages again and again: at 4 MiB a checkpoint ran after every ~16
    /// creates, and the coordinator wrote ~100 KiB per create besides the WAL's ~250 KiB; at 16 MiB ~70 KiB, and CPU per
    /// create fell 6–11 % in four interleaved pairs (issue #14, `zedge-bench creates`). The WAL file is cut back to
    /// 64 MiB when it starts over (`journal_size_limit`).
    static let checkpointBytes = 16 << 20

    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    /// Opens (creating it) the file at `path`; the WAL is checkpointed off the writer once it passes
    /// `checkpointPages` pages (`SQLiteCheckpointer`; by default `checkpointBytes` in pages of the file's size).
    /// Throws `SQLiteStoreError` when it cannot.
    /// `statementProfile`: the writer's statements are counted into it (a diagnostic, `SQLiteStatementProfile`).
    /// `group`: the bounds of group commit (`SQLiteWriteGroup`).
    init(path: String, logger: Logger, threadPool: NIOThreadPool = .singleton, checkpointPages: Int? = nil,
         statementProfile: SQLiteStatementProfile? = nil, group: SQLiteWriteGroup = SQLiteWriteGroup()) throws {
        self.path = path
        self.group = group
        self.logger = logger
        self.threadPool = threadPool
        writer = try SQLiteHandle(path: path, readOnly: false)
        let pages = try checkpointPages ?? Self.checkpointBytes / max(writer.pageSize(), 512)
        writer.profile = statementProfile  // after the store's own set-up: the profile holds the callers' statements
        checkpointer = try SQLiteCheckpointer(path: path, pages: pages, threadPool: threadPool, logger: logger)
        writer.handCheckpoints(to: checkpointer)
        let priority = writerThread.priority
        if let refusal = priority.refusal {
            logger.notice("the SQLite writer's thread runs at its process's priority: setpriority(\(priority.asked)) was refused (errno \(refusal)); allow it with CAP_SYS_NICE or RLIMIT_NICE (systemd: LimitNICE=\(priority.asked))")
        }
    }

    deinit { writerThread.stop() }

    /// How much the writer has been used since the store opened (`SQLiteWriterUse`).
    var writerUse: SQLiteWriterUse {
        var use = writerLock.use
        let commits = checkpointer.commits
        use.statements = writer.statementsRun
        use.commits = commits.commits
        use.walPagesWritten = commits.walPagesWritten
        return use
    }

    /// Whether the current task holds the writer (in a session): a write it makes outside the session would wait
    /// for itself.
    @TaskLocal static var holdsWriter = false

    /// A statement that only reads: a plain SELECT (a WITH, a PRAGMA or anything else goes to the writer).
    static func isRead(_ query: String) -> Bool {
        // A SELECT with nothing after it is no statement: it goes to the writer, which reports the error.
        firstWord(query) == Array("select".utf8) && query.utf8.drop { Self.space.contains($0) }.count > 6
    }

    private static let space: Set<UInt8> = [0x20, 0x0A, 0x09, 0x0D]

    /// The statement's first word in ASCII lower case: up to white space or "(", after leading white space.
    static func firstWord(_ query: String) -> [UInt8] {
        query.utf8.drop { space.contains($0) }.prefix { !space.contains($0) && $0 != 0x28 }.map { $0 | 0x20 }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = try encode(query)
        if Self.isRead(sql) {
            try await read(sql, binds, onRow)
        } else {
            try await write(sql, binds, onRow)
        }
    }

    /// A statement other than a plain SELECT: a single write, to the writer's holder (`runSingleWrite`).
    fileprivate func write(_ sql: String, _ binds: [SQLiteData], _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        if Self.holdsWriter {
            throw SQLiteStoreError(code: 5, message: "a write outside the transaction that holds SQLite's writer would wait for it: \(sql)")
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            writerLock.run { [self] in
                runSingleWrite(sql, binds, onRow) { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            }
        }
    }

    /// A single write, run by the writer's holder: a statement of the open group, answered when the group commits
    /// (`SQLiteWriteGroup`), or on its own when none is open. A statement other than INSERT, UPDATE, DELETE or REPLACE
    /// commits the group first and runs on its own.
    private func runSingleWrite(_ sql: String, _ binds: [SQLiteData], _ onRow: @escaping @Sendable (any SQLRow) -> Void,
                                _ done: @escaping SQLiteWriteGroup.Completion) {
        if group.isOpen, !Self.isGroupable(sql) { group.commit(on: writer) }
        do {
            try writer.run(sql, binds) { onRow(SQLiteStoreRow(columns: $0, values: $1)) }
            if group.isOpen { group.join(done) } else { done(nil) }
        } catch {
            group.checkRolledBack(on: writer, after: error)
            done(error)
        }
    }

    /// A statement that may join a group: an INSERT, UPDATE, DELETE or REPLACE.
    static func isGroupable(_ query: String) -> Bool {
        [Array("insert".utf8), Array("update".utf8), Array("delete".utf8), Array("replace".utf8)].contains(firstWord(query))
    }

    /// `body` in a savepoint of the writer's group transaction (`SQLiteWriteGroup`): its changes are kept when it
    /// returns and undone when it throws, and it returns once the group has committed. Its statements all go to the
    /// writer, reads included.
    /// `brief`: `body` is a few statements, so that when the writer is free it runs at once on the caller's thread
    /// (`withWriter`); otherwise it runs on the writer's thread.
    /// - Throws: what `body` throws; `SQLiteStoreError`; `SQLiteWriteGroup.RolledBack` when another write's error
    ///   undid the group; at once, when this task already holds the writer.
    func groupedTransaction<R: Sendable>(brief: Bool = false, _ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        if Self.holdsWriter {
            throw SQLiteStoreError(code: 5, message: "a transaction opened inside the transaction that holds SQLite's writer would wait for it")
        }
        return try await withWriter(brief: brief) {
            let result: R
            do {
                try group.open(on: writer)
                try writer.run("SAVEPOINT zedge_member")
            } catch {
                group.checkRolledBack(on: writer, after: error)
                letGo()
                throw error
            }
            do {
                result = try await Self.$holdsWriter.withValue(true) { try await body(Session(store: self)) }
                try writer.run("RELEASE zedge_member")
            } catch {
                if !group.checkRolledBack(on: writer, after: error) {
                    do {
                        try writer.run("ROLLBACK TO zedge_member")
                        try writer.run("RELEASE zedge_member")
                    } catch let undo {
                        // The savepoint could not be undone: the group cannot commit what is left of it.
                        if writer.inTransaction { try? writer.run("ROLLBACK") }
                        group.checkRolledBack(on: writer, after: undo)
                    }
                }
                letGo()
                throw error
            }
            let outcome: (any Error)? = await withCheckedContinuation { continuation in
                group.join { continuation.resume(returning: $0) }
                letGo()
            }
            if let outcome { throw outcome }
            return result
        }
    }

    /// Runs `body` holding the writer's lock (`body` lets it go), on the writer's own thread; a `brief` one that finds
    /// the lock free runs at once on the caller's thread instead.
    ///
    /// Why both (issue #14 item 3): a transaction handed the lock must not wait for a cooperative thread to run on
    /// (every write of the process waits behind it), and a long one (a liveness flush of thousands of heartbeats, a
    /// bulk action) must not hold a cooperative thread, of which a 2-core machine has two. But a brief one that finds
    /// the writer free gains nothing from the writer's thread and paid two hops for it, on the way from a task's
    /// enqueue to the long-poll it wakes: with the enqueue's transaction run inline (and its point reads,
    /// `pointReads`), the coordinator switched context ~30 % less often and used 1–17 % less CPU in a wake phase, and
    /// the enqueue's answer came ~0.3 ms sooner (bench-results, session 38). Only a real suspension inside `body`
    /// would resume it on a cooperative thread.
    private func withWriter<R>(brief: Bool, _ body: () async throws -> R) async throws -> R {
        if brief, writerLock.tryLock() { return try await body() }
        return try await withTaskExecutorPreference(writerThread) {
            await writerLock.lock()
            return try await body()
        }
    }

    /// The holder lets the writer go: it commits the open group unless a transaction is waiting to join it (and the
    /// group is neither full nor old), then unlocks.
    private func letGo() {
        if group.isOpen, group.isFull || !writerLock.hasWaiters { group.commit(on: writer) }
        writerLock.unlock()
    }

    /// The writer to this task alone for `closure` (its statements all go to it, reads included).
    /// - Throws: `SQLiteStoreError` at once when this task already holds the writer (a transaction opened inside
    ///   another would wait for itself, and every write of the process behind it).
    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        if Self.holdsWriter {
            throw SQLiteStoreError(code: 5, message: "a transaction opened inside the transaction that holds SQLite's writer would wait for it")
        }
        return try await withWriter(brief: false) {
            defer { writerLock.unlock() }
            group.commit(on: writer)  // a session is not a member: what was handed to it is committed first
            return try await Self.$holdsWriter.withValue(true) {
                try await closure(Session(store: self))
            }
        }
    }

    /// Closes the writer, the checkpointer and the idle readers (a reader in use closes when its last read ends); statements after
    /// this fail.
    func close() async {
        await writerLock.lock()
        defer { writerLock.unlock() }
        group.commit(on: writer)
        writer.close()
        checkpointer.close()
        writerThread.stop()
        idleReaders.withLock { $0.removeAll() }
    }

    func encode(_ query: any SQLExpression) throws -> (String, [SQLiteData]) {
        let (sql, binds) = serialize(query)
        return (sql, try binds.map { try Self.bindable($0) })
    }

    /// A bound value as SQLite stores it, as `SQLiteDataEncoder` makes it. The values most statements bind (text, UUIDs,
    /// integers, reals, dates, booleans) are converted here: through the encoder a UUID allocates a nested encoder and
    /// goes through `Encodable` (issue #14).
    static func bindable(_ value: any Encodable & Sendable) throws -> SQLiteData {
        switch value {
        case let text as String: .text(text)
        case let uuid as UUID: .text(UUIDText.text(uuid))  // as `UUID.encode(to:)` writes it
        case let integer as Int: .integer(integer)
        case let date as Date: .float(date.timeIntervalSince1970)
        case let real as Double: .float(real)
        case let bool as Bool: .integer(bool ? 1 : 0)
        default: try encoder.encode(value)
        }
    }

    private func read(_ sql: String, _ binds: [SQLiteData], _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await threadPool.runIfActive { try self.readOnReader(sql, binds, onRow) }
    }

    /// On the calling thread (one of the pool's, or a point read's caller): an idle reader connection (a new one
    /// when none is idle: at most one per thread).
    fileprivate func readOnReader(_ sql: String, _ binds: [SQLiteData], _ onRow: (any SQLRow) -> Void) throws {
        let reader = try idleReaders.withLock { $0.popLast() } ?? SQLiteHandle(path: path, readOnly: true)
        defer { idleReaders.withLock { $0.append(reader) } }
        try reader.run(sql, binds) { onRow(SQLiteStoreRow(columns: $0, values: $1)) }
    }

    /// This store with its plain SELECTs run on the caller's thread (`PointReads`).
    var pointReads: PointReads { PointReads(store: self) }

    /// The store for reads that find one row by its key (`Database.pointReads`): a plain SELECT runs on the caller's
    /// thread, on an idle reader connection, instead of going to the thread pool and back; any other statement goes
    /// where the store sends it. Why (issue #14 item 3): a read of one row by its primary key takes SQLite tens of µs
    /// from pages in memory, less than a hop to a pool thread and back to a cooperative one; an enqueue read two on its
    /// way to a long-poll's wake. Alone it moved the wake by less than the runs' spread; with brief transactions run
    /// inline (`withWriter`) the coordinator switched context ~30 % less often (bench-results, session 38). Bounded
    /// reads only: a scan here would hold a cooperative thread (two on a 2-core machine) for its whole length.
    struct PointReads: SQLiteStoreView {
        let store: SQLiteStore

        func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
            let (sql, binds) = try store.encode(query)
            if SQLiteStore.isRead(sql) {
                try store.readOnReader(sql, binds, onRow)
            } else {
                try await store.write(sql, binds, onRow)
            }
        }

        func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
            try await store.withSession(closure)
        }
    }

    /// The writer, held by one task for a transaction or another sequence of statements.
    struct Session: SQLiteStoreView {
        let store: SQLiteStore

        func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
            let (sql, binds) = try store.encode(query)
            try store.writer.run(sql, binds) { onRow(SQLiteStoreRow(columns: $0, values: $1)) }
        }

        func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
            try await closure(self)
        }
    }
}

/// The store as an `SQLDatabase` that sends statements its own way (`SQLiteStore.PointReads`, `SQLiteStore.Session`):
/// what each such view shares with the store.
protocol SQLiteStoreView: SQLDatabase {
    var store: SQLiteStore { get }
}

extension SQLiteStoreView {
    var logger: Logger { store.logger }
    var eventLoop: any EventLoop { store.eventLoop }
    var dialect: any SQLDialect { store.dialect }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }
}

/// A mutual exclusion for async callers, first come first served: `lock()` suspends (never blocks a thread) until
/// the holder calls `unlock()`. A single statement does not queue as a caller (`run`): the holder runs it when it
/// lets go, before the lock passes on ("flat combining"), so that it costs no hand-over. It accounts for its use
/// (`SQLiteWriterUse`): how long callers waited for it and held it, and how long hand-overs took.
final class WriterLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var next = 0
        /// When the holder got the lock (`DispatchTime` nanoseconds).
        var acquiredAt: UInt64 = 0
        /// When the lock was last handed to a waiter, which has yet to run.
        var handedAt: UInt64 = 0
        var use = SQLiteWriterUse()
        /// Single statements for the holder to run before the lock passes on (`run`).
        var statements: [@Sendable () -> Void] = []

        /// Takes the lock if it is free, from `now` on.
        mutating func take(at now: UInt64) -> Bool {
            guard !held else { return false }
            held = true
            acquiredAt = now
            return true
        }
    }
    private let state = Mutex(State())

    var use: SQLiteWriterUse { state.withLock { $0.use } }

    /// Single statements waiting for the holder to run them.
    var queuedStatements: Int { state.withLock { $0.statements.count } }

    /// Whether a caller of `lock()` is waiting (the holder will hand the lock to it).
    var hasWaiters: Bool { waitingCount > 0 }

    /// How many callers of `lock()` are waiting.
    var waitingCount: Int { state.withLock { $0.waiters.count - $0.next } }

    /// Takes the lock if it is free; false (and nothing queued) when it is held.
    func tryLock() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.withLock { $0.take(at: now) }
    }

    func lock() async {
        let asked = DispatchTime.now().uptimeNanoseconds
        if state.withLock({ $0.take(at: asked) }) { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.take(at: asked) {
                    state.handedAt = asked  // freed meanwhile: taken, not handed over
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
        let got = DispatchTime.now().uptimeNanoseconds
        state.withLock {
            $0.acquiredAt = got
            $0.use.waitedNanoseconds += got - min(asked, got)
            $0.use.handOverNanoseconds += got - min($0.handedAt, got)
        }
    }

    /// Runs `statement` (which must not throw, suspend or take this lock) with the lock held: at once on this
    /// thread when the lock is free, else on the holder's thread when it lets go, with no hand-over.
    func run(_ statement: @escaping @Sendable () -> Void) {
        let now = DispatchTime.now().uptimeNanoseconds
        let free = state.withLock { state -> Bool in
            if state.take(at: now) { return true }
            state.statements.append(statement)
            return false
        }
        if free {
            statement()
            unlock()
        }
    }

    /// Runs the statements queued meanwhile, then hands the lock to the longest waiter, or frees it. After the
    /// first round of statements a waiting transaction goes first; the statements that came meanwhile run when it
    /// lets go.
    func unlock() {
        var round = 0
        while true {
            let released = DispatchTime.now().uptimeNanoseconds
            let (statements, next) = state.withLock { state -> ([@Sendable () -> Void], CheckedContinuation<Void, Never>?) in
                if !state.statements.isEmpty, round == 0 || state.next >= state.waiters.count {
                    let taken = state.statements
                    state.statements = []
                    return (taken, nil)
                }
                state.use.acquisitions += 1
                state.use.heldNanoseconds += released - min(state.acquiredAt, released)
                guard state.next < state.waiters.count else {
                    state.waiters.removeAll(keepingCapacity: true)
                    state.next = 0
                    state.held = false
                    return ([], nil)
                }
                let waiter = state.waiters[state.next]
                state.handedAt = released
                state.next += 1
                if state.next >= 64 {  // the resumed ones leave the array now and then, not one by one
                    state.waiters.removeFirst(state.next)
                    state.next = 0
                }
                return ([], waiter)
            }
            guard !statements.isEmpty else {
                next?.resume()
                return
            }
            for statement in statements { statement() }
            round += 1
        }
    }
}

/// How much SQLite's one writer has been used since the store opened: acquisitions (transactions and single
/// writes) and wall times in nanoseconds. Held and handed-over time together over the elapsed time is the writer's
/// busy fraction: at 1 every write queues (issue #14).
public struct SQLiteWriterUse: Sendable, Equatable {
    public var acquisitions = 0
    /// From getting the writer to letting it go.
    public var heldNanoseconds: UInt64 = 0
    /// From asking for the writer to getting it.
    public var waitedNanoseconds: UInt64 = 0
    /// From a holder's letting go to the waiter it was handed to running (the writer reserved and idle: the waiter
    /// resumes on a cooperative thread that may be busy).
    public var handOverNanoseconds: UInt64 = 0
    /// Statements the writer ran (BEGIN and COMMIT included), transactions it committed, and pages those commits
    /// appended to the WAL: counts that the machine's noise does not move.
    public var statements = 0
    public var commits = 0
    public var walPagesWritten = 0
}
