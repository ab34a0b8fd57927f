import CSQLite3
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import ZedgeCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a journaled task stands on this agent.
public enum JournalState: String, Sendable, Hashable, CaseIterable {
    /// Delivered by the coordinator and recorded; not started yet.
    case received = "RECEIVED"
    /// The executor began work. Still `started` after a restart means the agent died mid-task.
    case started = "STARTED"
    /// The outcome is recorded; it is re-sent until the coordinator acknowledges it.
    case finished = "FINISHED"
}

/// One task as the agent's journal holds it.
public struct JournalEntry: Sendable, Hashable, Identifiable {
    public var id: UUID
    public var kind: TaskKind
    public var payload: JSONValue
    public var state: JournalState
    /// The delivery attempt the task was first received with.
    public var attempt: Int
    public var outcome: TaskOutcome?
    public var error: String?
    public var observed: JSONValue?
    public var receivedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// When the coordinator accepted the result; nil until then.
    public var acknowledgedAt: Date?

    public init(
        id: UUID, kind: TaskKind, payload: JSONValue, state: JournalState, attempt: Int,
        outcome: TaskOutcome? = nil, error: String? = nil, observed: JSONValue? = nil, receivedAt: Date,
        startedAt: Date? = nil, finishedAt: Date? = nil, acknowledgedAt: Date? = nil
    ) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.state = state
        self.attempt = attempt
        self.outcome = outcome
        self.error = error
        self.observed = observed
        self.receivedAt = receivedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.acknowledgedAt = acknowledgedAt
    }

    /// The result to POST to `/agent/v1/tasks/{id}/result`, once finished.
    public var resultReport: TaskResultReport? {
        guard state == .finished, let outcome else { return nil }
        return TaskResultReport(outcome: outcome, error: error, observed: observed)
    }
}

/// A progress event journaled for re-sending (`POST /agent/v1/tasks/{id}/events` is idempotent by sequence).
public struct JournalEvent: Sendable, Hashable {
    public var taskId: UUID
    public var report: TaskEventReport
    public var acknowledged: Bool

    public init(taskId: UUID, report: TaskEventReport, acknowledged: Bool) {
        self.taskId = taskId
        self.report = report
        self.acknowledged = acknowledged
    }
}

/// The agent's crash-safe task journal: one SQLite file (WAL, `synchronous=FULL`), so that every record it
/// reports has reached the disk and survives `kill -9` and power loss.
///
/// Delivery is at least once (DESIGN §4); the journal is what makes a repeat harmless: `received` keeps the
/// first record of a task id, `finished` keeps the first result, and on start-up `unacknowledgedResults()`
/// lists the results to send again and `interrupted()` the tasks the agent was killed in the middle of.
///
/// Thread safety: the `sqlite3*` connection lives inside a `Mutex` and is only touched under it, so the
/// class is checked `Sendable` (no `@unchecked` needed). Every call blocks on SQLite and an fsync: call it off
/// any event loop (a plain thread or a `Task` in a service is fine; the agent has no NIO loops).
public final class TaskJournal: Sendable {
    private let connection: Mutex<SQLiteDatabase>
    private let now: @Sendable () -> Date
    public let path: String

    /// Opens or creates the journal at `path`, creating missing folders (mode 0700).
    ///
    /// - Parameter now: the clock for the timestamps (tests pass a fixed one).
    public init(path: String, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.path = path
        self.now = now
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw JournalError.durability("cannot create \(directory): \(FileErrorText.describe(error))")
            }
        }
        // Create the file owner-only before SQLite does, so the -wal and -shm files inherit 0600 (payloads may
        // carry secrets such as cloud-init data).
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw JournalError.durability("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        Self.closeDescriptor(fd)
        let db = try SQLiteDatabase(path: path)
        try db.setBusyTimeout(milliseconds: 5_000)
        let mode = try db.query("PRAGMA journal_mode=WAL").first?.first?.string?.lowercased()
        guard mode == "wal" else {
            throw JournalError.durability("journal_mode is \(mode ?? "unknown"), WAL is required")
        }
        try db.execute("PRAGMA synchronous=FULL")
        try db.execute("PRAGMA foreign_keys=ON")
        try Self.migrate(db)
        Self.syncDirectory(directory.isEmpty ? "." : directory)
        connection = Mutex(db)
    }

    /// Closes the file. Later calls throw. Dropping the journal without closing is safe too.
    public func close() throws {
        try connection.withLock { db in try db.close() }
    }

    // MARK: - Tasks

    /// Records a delivered task. If the id is already journaled (the coordinator delivered it again) the
    /// existing entry is returned unchanged: look at its `state` to decide whether to run, resume or re-report.
    /// Secrets in the payload (a cephx key) are stored as "<redacted>" (`PayloadRedaction`): the journal never
    /// holds them; a task run again after a restart uses the libvirt secret defined the first time.
    @discardableResult
    public func received(id: UUID, kind: TaskKind, payload: JSONValue, attempt: Int) throws -> JournalEntry {
        let payloadText = try Self.encode(PayloadRedaction.redacted(payload))
        let time = now()
        return try withDatabase { db in
            try db.transaction {
                try db.run(
                    """
                    INSERT INTO tasks (id, kind, payload, state, attempt, received_at)
                    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING
                    """,
                    [.text(Self.key(id)), .text(kind.rawValue), .text(payloadText),
                     .text(JournalState.received.rawValue), .integer(Int64(attempt)), SQLiteValue(time)])
                return try Self.fetch(db, id)
            }
        }
    }

    /// Marks a received task as started (the executor is about to touch the host). A no-op when it is already
    /// started or finished.
    @discardableResult
    public func started(id: UUID) throws -> JournalEntry {
        let time = now()
        return try withDatabase { db in
            try db.transaction {
                try db.run(
                    "UPDATE tasks SET state = ?, started_at = ? WHERE id = ? AND state = ?",
                    [.text(JournalState.started.rawValue), SQLiteValue(time), .text(Self.key(id)),
                     .text(JournalState.received.rawValue)])
                return try Self.fetch(db, id)
            }
        }
    }

    /// Records the outcome. Idempotent: once finished, later calls change nothing and return the first result,
    /// which is the one to report.
    @discardableResult
    public func finished(id: UUID, outcome: TaskOutcome, error: String?, observed: JSONValue?) throws -> JournalEntry {
        let observedText = try observed.map(Self.encode)
        let time = now()
        return try withDatabase { db in
            try db.transaction {
                try db.run(
                    """
                    UPDATE tasks SET state = ?, outcome = ?, error = ?, observed = ?, finished_at = ?
                    WHERE id = ? AND state <> ?
                    """,
                    [.text(JournalState.finished.rawValue), .text(outcome.rawValue), SQLiteValue(error),
                     SQLiteValue(observedText), SQLiteValue(time), .text(Self.key(id)),
                     .text(JournalState.finished.rawValue)])
                return try Self.fetch(db, id)
            }
        }
    }

    /// Records that the coordinator accepted the result. A no-op unless finished and not yet acknowledged.
    @discardableResult
    public func acknowledged(id: UUID) throws -> JournalEntry {
        let time = now()
        return try withDatabase { db in
            try db.transaction {
                try db.run(
                    "UPDATE tasks SET acknowledged_at = ? WHERE id = ? AND state = ? AND acknowledged_at IS NULL",
                    [SQLiteValue(time), .text(Self.key(id)), .text(JournalState.finished.rawValue)])
                return try Self.fetch(db, id)
            }
        }
    }

    public func entry(id: UUID) throws -> JournalEntry? {
        try withDatabase { db in
            try db.query("SELECT \(Self.columns) FROM tasks WHERE id = ?", [.text(Self.key(id))])
                .first.map(Self.decode)
        }
    }

    /// Finished and not acknowledged: results to send (again) to the coordinator, oldest first.
    public func unacknowledgedResults() throws -> [JournalEntry] {
        try entries(
            "WHERE state = ? AND acknowledged_at IS NULL ORDER BY finished_at, id",
            [.text(JournalState.finished.rawValue)])
    }

    /// Started and not finished: the agent stopped in the middle of these (crash, kill -9, power loss).
    public func interrupted() throws -> [JournalEntry] {
        try entries("WHERE state = ? ORDER BY started_at, id", [.text(JournalState.started.rawValue)])
    }

    /// Received and never started, oldest first (e.g. the agent stopped before running them).
    public func pending() throws -> [JournalEntry] {
        try entries("WHERE state = ? ORDER BY received_at, id", [.text(JournalState.received.rawValue)])
    }

    /// Deletes acknowledged entries (and their events) acknowledged before `cutoff`; returns how many.
    @discardableResult
    public func prune(olderThan cutoff: Date) throws -> Int {
        try withDatabase { db in
            try db.transaction {
                let where_ = "acknowledged_at IS NOT NULL AND acknowledged_at < ?"
                try db.run(
                    "DELETE FROM events WHERE task_id IN (SELECT id FROM tasks WHERE \(where_))", [SQLiteValue(cutoff)])
                return try db.run("DELETE FROM tasks WHERE \(where_)", [SQLiteValue(cutoff)])
            }
        }
    }

    // MARK: - Events

    /// Journals a progress event. Idempotent by (task, sequence): a repeat keeps the first. The task must be
    /// journaled (`notFound` otherwise).
    public func recordEvent(taskId: UUID, _ event: TaskEventReport) throws {
        let metadata = try event.metadata.map(Self.encode)
        try withDatabase { db in
            try db.transaction {
                _ = try Self.fetch(db, taskId)
                try db.run(
                    """
                    INSERT INTO events (task_id, sequence, kind, name, metadata, acknowledged)
                    VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(task_id, sequence) DO NOTHING
                    """,
                    [.text(Self.key(taskId)), .integer(Int64(event.sequence)), .text(event.kind.rawValue),
                     .text(event.name), SQLiteValue(metadata)])
            }
        }
    }

    /// The next free sequence number for a task's events (1 for the first).
    public func nextEventSequence(taskId: UUID) throws -> Int {
        try withDatabase { db in
            let rows = try db.query(
                "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE task_id = ?", [.text(Self.key(taskId))])
            return rows.first?.first?.int ?? 1
        }
    }

    public func eventAcknowledged(taskId: UUID, sequence: Int) throws {
        _ = try withDatabase { db in
            try db.run(
                "UPDATE events SET acknowledged = 1 WHERE task_id = ? AND sequence = ?",
                [.text(Self.key(taskId)), .integer(Int64(sequence))])
        }
    }

    /// Events not yet accepted by the coordinator, per task in sequence order.
    public func unacknowledgedEvents() throws -> [JournalEvent] {
        try withDatabase { db in
            try db.query(
                """
                SELECT task_id, sequence, kind, name, metadata, acknowledged FROM events
                WHERE acknowledged = 0 ORDER BY task_id, sequence
                """
            ).map(Self.decodeEvent)
        }
    }

    /// Runs a read-only PRAGMA and returns its first value as text (for diagnostics and tests).
    public func pragma(_ name: String) throws -> String? {
        guard name.allSatisfy({ $0.isLetter || $0 == "_" }) else {
            throw JournalError.sqlite(code: SQLITE_MISUSE, message: "not a pragma name", context: name)
        }
        return try withDatabase { db in
            guard let value = try db.query("PRAGMA \(name)").first?.first else { return nil }
            switch value {
            case .text(let s): return s
            case .integer(let i): return String(i)
            case .real(let d): return String(d)
            case .null: return nil
            }
        }
    }

    // MARK: - Private

    private func withDatabase<T: Sendable>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        try connection.withLock { db in try body(db) }
    }

    private func entries(_ clause: String, _ bindings: [SQLiteValue]) throws -> [JournalEntry] {
        try withDatabase { db in
            try db.query("SELECT \(Self.columns) FROM tasks \(clause)", bindings).map(Self.decode)
        }
    }

    private static let columns =
        "id, kind, payload, state, attempt, outcome, error, observed, received_at, started_at, finished_at, acknowledged_at"

    private static func migrate(_ db: SQLiteDatabase) throws {
        let version = try db.query("PRAGMA user_version").first?.first?.int ?? 0
        guard version < 1 else { return }
        try db.transaction {
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS tasks (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    state TEXT NOT NULL,
                    attempt INTEGER,
                    outcome TEXT,
                    error TEXT,
                    observed TEXT,
                    received_at REAL,
                    started_at REAL,
                    finished_at REAL,
                    acknowledged_at REAL
                );
                CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, acknowledged_at);
                CREATE TABLE IF NOT EXISTS events (
                    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                    sequence INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    metadata TEXT,
                    acknowledged INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (task_id, sequence)
                );
                PRAGMA user_version = 1;
                """)
        }
    }

    /// fsyncs the folder so that a newly created database file's directory entry is durable too.
    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        closeDescriptor(fd)
    }

    private static func closeDescriptor(_ fd: Int32) {
        #if canImport(Glibc)
        _ = Glibc.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }

    private static func key(_ id: UUID) -> String { id.uuidString.lowercased() }

    private static func encode(_ value: JSONValue) throws -> String {
        let data = try ZedgeJSON.encoder().encode(value)
        guard let text = String(data: data, encoding: .utf8) else { throw JournalError.corrupt("JSON is not UTF-8") }
        return text
    }

    private static func decodeJSON(_ text: String, _ what: String) throws -> JSONValue {
        do {
            return try JSONValue(parsing: text)
        } catch {
            throw JournalError.corrupt("\(what) is not JSON")
        }
    }

    private static func fetch(_ db: SQLiteDatabase, _ id: UUID) throws -> JournalEntry {
        guard let row = try db.query("SELECT \(columns) FROM tasks WHERE id = ?", [.text(key(id))]).first else {
            throw JournalError.notFound(id)
        }
        return try decode(row)
    }

    private static func decode(_ row: [SQLiteValue]) throws -> JournalEntry {
        guard row.count == 12 else { throw JournalError.corrupt("expected 12 columns, got \(row.count)") }
        guard let idText = row[0].string, let id = UUID(uuidString: idText) else {
            throw JournalError.corrupt("bad task id")
        }
        guard let kindText = row[1].string, let kind = TaskKind(rawValue: kindText) else {
            throw JournalError.corrupt("task \(idText): bad kind")
        }
        guard let payloadText = row[2].string else { throw JournalError.corrupt("task \(idText): no payload") }
        guard let stateText = row[3].string, let state = JournalState(rawValue: stateText) else {
            throw JournalError.corrupt("task \(idText): bad state")
        }
        var outcome: TaskOutcome?
        if let text = row[5].string {
            guard let value = TaskOutcome(rawValue: text) else {
                throw JournalError.corrupt("task \(idText): bad outcome")
            }
            outcome = value
        }
        guard let receivedAt = row[8].date else { throw JournalError.corrupt("task \(idText): no received_at") }
        return JournalEntry(
            id: id, kind: kind, payload: try decodeJSON(payloadText, "task \(idText) payload"), state: state,
            attempt: row[4].int ?? 1, outcome: outcome, error: row[6].string,
            observed: try row[7].string.map { try decodeJSON($0, "task \(idText) observed") },
            receivedAt: receivedAt, startedAt: row[9].date, finishedAt: row[10].date, acknowledgedAt: row[11].date)
    }

    private static func decodeEvent(_ row: [SQLiteValue]) throws -> JournalEvent {
        guard row.count == 6, let idText = row[0].string, let taskId = UUID(uuidString: idText),
            let sequence = row[1].int, let kindText = row[2].string, let kind = EventKind(rawValue: kindText),
            let name = row[3].string
        else { throw JournalError.corrupt("bad event row") }
        let metadata = try row[4].string.map { try decodeJSON($0, "event \(idText)/\(sequence) metadata") }
        return JournalEvent(
            taskId: taskId, report: TaskEventReport(sequence: sequence, kind: kind, name: name, metadata: metadata),
            acknowledged: (row[5].int ?? 0) != 0)
    }
}
