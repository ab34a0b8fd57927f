import Foundation
import SQLKit
import ZedgeCore

/// Agent tasks, their events and the operations they belong to (DESIGN §4): the queue's rows.
public protocol TaskRepository: Sendable {
    /// Writes an operation and its tasks in the caller's transaction and, with PostgreSQL, announces the
    /// tasks' hosts to every replica (`NOTIFY zedge_tasks`, delivered at commit).
    /// `payloadTexts`: by task id, the JSON text to store as the task's payload in place of its `payload`
    /// (`OperationPlan.Payload.encoded`).
    func insert(_ operation: ZedgeCore.Operation, tasks: [AgentTask], payloadTexts: [UUID: String], in tx: Transaction) async throws
    /// Announces hosts that have tasks again (a lease that ran out), outside any transaction.
    func announce(hosts: [UUID]) async throws
    /// Tells every replica that `run` of the host's agent started polling at `since` (with PostgreSQL;
    /// `TaskWakeChannel`).
    func announce(run: UUID, of host: UUID, since: Date) async throws
    /// The host's QUEUED tasks, oldest first.
    func queued(computeMachineId: UUID?, cloudBoxId: UUID?, limit: Int) async throws -> [AgentTask]
    /// Leases the host's QUEUED tasks (oldest first, at most `limit`) in one transaction: `lease` gives each
    /// task as leased (nil leaves it queued), each is written only if it is still QUEUED, and `operation` moves
    /// the operation of each one written along. Returns the tasks written.
    func lease(computeMachineId: UUID?, cloudBoxId: UUID?, limit: Int,
               _ lease: @escaping @Sendable (AgentTask) -> AgentTask?,
               operation: @escaping @Sendable (AgentTask, ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> [AgentTask]
    func find(_ id: UUID) async throws -> AgentTask?
    /// The host's LEASED tasks of these kinds (what an agent may download image files for).
    func leased(computeMachineId: UUID?, cloudBoxId: UUID?, kinds: [TaskKind]) async throws -> [AgentTask]
    /// Writes `task` only if it is still in `status` (optimistic; false when another writer won).
    func update(_ task: AgentTask, expecting status: TaskStatus) async throws -> Bool
    /// Writes `task` only if it is still in `status`, and in the same transaction moves its operation (if it has one)
    /// along with `operation`: the task and its operation's progress are written together or not at all. False (and
    /// nothing written) when another writer won the task.
    /// - Throws: `DomainError` (conflict) when the operation kept changing under it (`updateOperation`).
    func update(_ task: AgentTask, expecting status: TaskStatus,
                advancing operation: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> Bool
    /// As `update(_:expecting:advancing:)`, only if the task's lease is also still `holder`'s.
    func update(_ task: AgentTask, expecting status: TaskStatus, holder: UUID?,
                advancing operation: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> Bool
    /// The host's LEASED tasks that `run` does not hold (held by an earlier run, or by an agent that did not say).
    func leasedByOtherRuns(computeMachineId: UUID?, cloudBoxId: UUID?, run: UUID) async throws -> [AgentTask]
    /// LEASED tasks whose lease ended at or before `now` (at most `limit`).
    func expiredLeases(now: Date, limit: Int) async throws -> [AgentTask]
    /// Records an event once per (task, sequence); false when it was already there.
    func recordOnce(_ event: TaskEvent) async throws -> Bool
    /// Replaces a task's stored payload (to redact what is no use once the task has finished).
    func replacePayload(of taskId: UUID, with payload: JSONValue) async throws
    func operation(_ id: UUID) async throws -> ZedgeCore.Operation?
    /// What the operation is about, read without its steps and request (nil: no such operation).
    func target(ofOperation id: UUID) async throws -> OperationTarget?
    /// Changes an operation under a transaction: `change` sees the stored one (without its `request`, which it
    /// cannot change) and returns the new one.
    func updateOperation(_ id: UUID, _ change: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws
    /// The newest operation about a resource.
    func latestOperation(resourceId: UUID, in tx: Transaction) async throws -> ZedgeCore.Operation?
    /// The resources that have an operation QUEUED or RUNNING.
    func resourcesInFlight() async throws -> Set<UUID>
    /// The operation's tasks, oldest first.
    func tasks(operationId: UUID) async throws -> [AgentTask]
}

/// An operation's kind and the resource it acts on (DESIGN §2 `operations`): what a task's outcome handler needs to
/// know whose task finished. Read on its own, not as a whole `Operation`, whose steps and request are JSON to parse
/// (issue #14: the whole operation was read for every finished task).
public struct OperationTarget: Sendable, Equatable {
    public var kind: String
    public var resourceType: String?
    public var resourceId: UUID?
}

/// The channel replicas LISTEN on for hosts that have new tasks (DESIGN §5). A payload is a host's id (new tasks);
/// a host's id and `call` (a new agent call, `"<host> call"`); or a host's id, its agent's new run and when that
/// run started polling, in milliseconds since 1970 (`"<host> <run> <ms>"`).
public enum TaskWakeChannel {
    public static let name = "zedge_tasks"

    /// A host's agent started polling as a new run.
    public struct NewRun: Sendable, Hashable {
        public var run: UUID
        public var since: Date
    }

    /// The payload that announces `run` of `host`, first seen at `since`.
    public static func payload(host: UUID, run: UUID, since: Date) -> String {
        "\(host.uuidString) \(run.uuidString) \(Int64((since.timeIntervalSince1970 * 1000).rounded()))"
    }

    /// The payload that says `host` has a new agent call.
    public static func callPayload(host: UUID) -> String { "\(host.uuidString) call" }

    /// What a payload says: the host, its agent's new run when it says, and whether it is about a call; nil for
    /// anything else.
    public static func parse(_ payload: String) -> (host: UUID, newRun: NewRun?, call: Bool)? {
        let parts = payload.split(separator: " ", omittingEmptySubsequences: true)
        guard (1...3).contains(parts.count), let host = UUID(uuidString: String(parts[0])) else { return nil }
        switch parts.count {
        case 1: return (host, nil, false)
        case 2: return parts[1] == "call" ? (host, nil, true) : nil
        default:
            guard let run = UUID(uuidString: String(parts[1])), let milliseconds = Int64(parts[2]) else { return nil }
            return (host, NewRun(run: run, since: Date(timeIntervalSince1970: Double(milliseconds) / 1000)), false)
        }
    }
}

public struct SQLTaskRepository: TaskRepository, DatabaseBacked {
    let database: Database
    let tasks = Tables.agentTasks
    let operations = Tables.operations
    let events = Tables.taskEvents

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ operation: ZedgeCore.Operation, tasks newTasks: [AgentTask], payloadTexts: [UUID: String],
                       in tx: Transaction) async throws {
        try await operations.insert(operation, on: tx.db)
        for task in newTasks {
            let overrides: [String: any SQLExpression] = payloadTexts[task.id].map { ["payload": SQLBind($0)] } ?? [:]
            try await tasks.insert(task, overriding: overrides, on: tx.db)
        }
        // Only hosts with QUEUED tasks: a task written leased was handed to a poll here (`WorkDispatcher`).
        try await announce(hosts: newTasks.filter { $0.status == .queued }.compactMap { $0.computeMachineId ?? $0.cloudBoxId }, on: tx.db)
    }

    public func announce(hosts: [UUID]) async throws {
        try await announce(hosts: hosts, on: database.sql)
    }

    func announce(hosts: [UUID], on db: any SQLDatabase) async throws {
        guard database.engine == .postgres else { return }
        for host in Set(hosts) {
            try await db.raw("SELECT pg_notify(\(bind: TaskWakeChannel.name), \(bind: host.uuidString))").run()
        }
    }

    public func announce(run: UUID, of host: UUID, since: Date) async throws {
        guard database.engine == .postgres else { return }
        let payload = TaskWakeChannel.payload(host: host, run: run, since: since)
        try await database.sql.raw("SELECT pg_notify(\(bind: TaskWakeChannel.name), \(bind: payload))").run()
    }

    public func queued(computeMachineId: UUID?, cloudBoxId: UUID?, limit: Int) async throws -> [AgentTask] {
        guard let (column, host) = Self.hostColumn(computeMachineId, cloudBoxId) else {
            return []
        }
        return try await queued(column, host, limit: limit, on: database.sql)
    }

    /// The column that names a task's host, and the host: its compute machine, else its CloudBox; nil for neither.
    static func hostColumn(_ computeMachineId: UUID?, _ cloudBoxId: UUID?) -> (column: String, host: UUID)? {
        computeMachineId.map { ("compute_machine_id", $0) } ?? cloudBoxId.map { ("cloud_box_id", $0) }
    }

    func queued(_ column: String, _ host: UUID, limit: Int, on db: any SQLDatabase) async throws -> [AgentTask] {
        try await db.select().column("*").from(tasks.name)
            .where(SQLIdentifier(column), .equal, SQLBind(host)).where("status", .equal, TaskStatus.queued.rawValue)
            .orderBy("id").limit(limit).all().map { try RowCodec.decode(AgentTask.self, from: $0) }
    }

    /// One transaction, so one turn of the writer on SQLite (issue #14: a woken long-poll took four hops between
    /// threads, two of them on the writer, before it could answer). The queued tasks are read (and decoded, payloads
    /// and all) before it, on a reader: the transaction that holds the writer only writes. Each write is conditional on
    /// the task being as it was read (QUEUED, the same attempts), so a task that another poll, a cancel or a withdrawal
    /// moved in between is left alone. No queued task: no transaction.
    public func lease(computeMachineId: UUID?, cloudBoxId: UUID?, limit: Int,
                      _ lease: @escaping @Sendable (AgentTask) -> AgentTask?,
                      operation: @escaping @Sendable (AgentTask, ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> [AgentTask] {
        guard let (column, host) = Self.hostColumn(computeMachineId, cloudBoxId) else {
            return []
        }
        // A few rows by an index, read on the caller's thread: every long-poll looks twice (before its wait, and
        // after one that ends without a task), 666 looks a second for 10,000 agents polling every 30 s (issue #14).
        let queued = try await queued(column, host, limit: limit, on: database.pointReads)
        guard !queued.isEmpty else { return [] }
        return try await database.transaction(brief: true) { tx in
            var leased: [AgentTask] = []
            for task in queued {
                guard let next = lease(task), try await update(next, expecting: task.status, attempts: task.attempts, on: tx.db) else { continue }
                if let operationId = next.operationId {
                    try await updateOperation(operationId, on: tx.db) { operation(next, $0) }
                }
                leased.append(next)
            }
            return leased
        }
    }

    public func leased(computeMachineId: UUID?, cloudBoxId: UUID?, kinds: [TaskKind]) async throws -> [AgentTask] {
        guard let (column, host) = Self.hostColumn(computeMachineId, cloudBoxId),
              !kinds.isEmpty else {
            return []
        }
        return try await database.sql.select().column("*").from(tasks.name)
            .where(SQLIdentifier(column), .equal, SQLBind(host)).where("status", .equal, TaskStatus.leased.rawValue)
            .where("kind", .in, kinds.map(\.rawValue))
            .orderBy("id").all().map { try RowCodec.decode(AgentTask.self, from: $0) }
    }

    public func find(_ id: UUID) async throws -> AgentTask? {
        try await tasks.find(id, on: database.pointReads)
    }

    public func update(_ task: AgentTask, expecting status: TaskStatus) async throws -> Bool {
        try await update(task, expecting: status, on: database.sql)
    }

    func update(_ task: AgentTask, expecting status: TaskStatus, attempts: Int? = nil, on db: any SQLDatabase) async throws -> Bool {
        try await write(task, Expected(status: status, attempts: attempts), on: db)
    }

    public func update(_ task: AgentTask, expecting status: TaskStatus,
                       advancing operation: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> Bool {
        try await update(task, Expected(status: status), advancing: operation)
    }

    public func update(_ task: AgentTask, expecting status: TaskStatus, holder: UUID?,
                       advancing operation: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> Bool {
        try await update(task, Expected(status: status, holder: .some(holder)), advancing: operation)
    }

    /// What a conditional write of a task expects of the stored row: its status, and when given its attempts and
    /// its lease's holder (`.some(nil)`: no holder).
    struct Expected: Sendable {
        var status: TaskStatus
        var attempts: Int?
        var holder: UUID??

        var condition: SQLBinaryExpression {
            var condition = SQLBinaryExpression(SQLIdentifier("status"), .equal, SQLBind(status.rawValue))
            if let attempts {
                condition = SQLBinaryExpression(condition, .and, SQLBinaryExpression(SQLIdentifier("attempts"), .equal, SQLBind(attempts)))
            }
            if let holder {
                let held = if let holder {
                    SQLBinaryExpression(SQLIdentifier("lease_holder"), .equal, SQLBind(holder))
                } else {
                    SQLBinaryExpression(SQLIdentifier("lease_holder"), .is, SQLLiteral.null)
                }
                condition = SQLBinaryExpression(condition, .and, held)
            }
            return condition
        }
    }

    /// Writes the task's state columns if the stored row is as `expected`; true when it was.
    func write(_ task: AgentTask, _ expected: Expected, on db: any SQLDatabase) async throws -> Bool {
        let statement = StatementText.update(tasks.name, set: try Self.stateColumns(of: task), id: task.id, and: expected.condition, in: db)
        return try await db.raw("\(statement)").all().count == 1
    }

    /// One transaction for the task and its operation (issue #14: a finished task took two, so a create's result
    /// three commits with its outcome's). The operation is read and changed before it, on a reader, as
    /// `updateOperation` does, and the transaction writes it over the version read; when another change came
    /// first, the transaction rolls back, the task with it, and both are tried again.
    func update(_ task: AgentTask, _ expected: Expected,
                advancing operation: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws -> Bool {
        guard let operationId = task.operationId else { return try await write(task, expected, on: database.sql) }
        for _ in 0..<Self.operationAttempts {
            guard let (stored, version) = try await operationToChange(operationId, on: database.sql) else {
                return try await write(task, expected, on: database.sql)  // its operation is gone: the task alone
            }
            let changed = operation(stored)
            do {
                return try await database.transaction(brief: true) { tx in
                    guard try await write(task, expected, on: tx.db) else { return false }
                    guard try await writeProgress(changed, over: version, on: tx.db) else { throw OperationMoved() }
                    return true
                }
            } catch is OperationMoved {
                continue
            }
        }
        throw DomainError.conflict("The operation \(operationId) kept changing; task \(task.id)'s outcome was not recorded.")
    }

    /// Thrown inside a transaction to roll it back: the operation's version moved since it was read.
    private struct OperationMoved: Error {}

    /// The columns a task's lifecycle changes (`TaskLifecycle`): what an update writes. The rest is fixed when the
    /// task is created (its payload, often the largest value of the row, is rewritten only by `replacePayload`).
    static func stateColumns(of task: AgentTask) throws -> [(column: String, value: any SQLExpression)] {
        return [
            ("status", try RowCodec.bind(task.status)), ("attempts", try RowCodec.bind(task.attempts)),
            ("max_attempts", try RowCodec.bind(task.maxAttempts)), ("lease_expires_at", try RowCodec.bind(optional: task.leaseExpiresAt)),
            ("lease_holder", try RowCodec.bind(optional: task.leaseHolder)), ("result", try RowCodec.bind(optional: task.result)),
            ("error", try RowCodec.bind(optional: task.error)), ("updated_at", try RowCodec.bind(task.updatedAt)),
            ("finished_at", try RowCodec.bind(optional: task.finishedAt)),
        ]
    }

    public func leasedByOtherRuns(computeMachineId: UUID?, cloudBoxId: UUID?, run: UUID) async throws -> [AgentTask] {
        guard let (column, host) = Self.hostColumn(computeMachineId, cloudBoxId) else {
            return []
        }
        return try await database.sql.select().column("*").from(tasks.name)
            .where(SQLIdentifier(column), .equal, SQLBind(host)).where("status", .equal, TaskStatus.leased.rawValue)
            .where { $0.where("lease_holder", .is, SQLLiteral.null).orWhere("lease_holder", .notEqual, SQLBind(run)) }
            .orderBy("id").all().map { try RowCodec.decode(AgentTask.self, from: $0) }
    }

    public func expiredLeases(now: Date, limit: Int) async throws -> [AgentTask] {
        try await database.sql.select().column("*").from(tasks.name)
            .where("status", .equal, TaskStatus.leased.rawValue).where("lease_expires_at", .lessThanOrEqual, now)
            .limit(limit).all().map { try RowCodec.decode(AgentTask.self, from: $0) }
    }

    public func recordOnce(_ event: TaskEvent) async throws -> Bool {
        let existing = try await events.first(
            where: [try .equal("taskId", event.taskId), try .equal("sequence", event.sequence)], on: database.sql)
        guard existing == nil else { return false }
        do {
            try await events.insert(event, on: database.sql)
            return true
        } catch let error as DomainError where error.kind == .conflict {
            return false  // the same event raced in twice: recorded once
        }
    }

    public func replacePayload(of taskId: UUID, with payload: JSONValue) async throws {
        try await database.sql.update(tasks.name).set("payload", to: try RowCodec.bind(payload)).where("id", .equal, taskId).run()
    }

    public func operation(_ id: UUID) async throws -> ZedgeCore.Operation? {
        try await operations.find(id, on: database.pointReads)
    }

    public func target(ofOperation id: UUID) async throws -> OperationTarget? {
        try await database.sql.raw("""
            SELECT kind, resource_type, resource_id FROM \(ident: operations.name) WHERE id = \(bind: id)
            """).first().map {
            OperationTarget(kind: try $0.decode(column: "kind", as: String.self),
                            resourceType: try $0.decode(column: "resource_type", as: String?.self),
                            resourceId: try $0.decode(column: "resource_id", as: UUID?.self))
        }
    }

    /// Optimistic: reads the operation (a reader connection on SQLite), and writes what `change` made of it only if
    /// its `version` is still the one read; else reads it again. The writer is held for the one UPDATE, not for the
    /// read and the JSON of its steps (issue #14). Writes only what a change of progress changes: status, steps,
    /// progress, error and the times.
    /// - Throws: `DomainError` (conflict) after `operationAttempts` reads that each lost to another change.
    public func updateOperation(_ id: UUID, _ change: @escaping @Sendable (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws {
        try await updateOperation(id, on: database.sql, change)
    }

    /// As `updateOperation(_:_:)`, on `db` (a transaction's, whose reads then see its own writes).
    /// `change` is handed the operation without its `request` (nil): the snapshot is neither needed nor written here,
    /// and reading and parsing it for each progress change was ~1 % of a create's CPU (issue #14).
    func updateOperation(_ id: UUID, on db: any SQLDatabase, _ change: (ZedgeCore.Operation) -> ZedgeCore.Operation) async throws {
        for _ in 0..<Self.operationAttempts {
            guard let (stored, version) = try await operationToChange(id, on: db) else { return }
            if try await writeProgress(change(stored), over: version, on: db) { return }
        }
        throw DomainError.conflict("The operation \(id) kept changing; its progress was not recorded.")
    }

    /// The operation as a change of progress sees it (without its `request`), and its version; nil: no such one.
    func operationToChange(_ id: UUID, on db: any SQLDatabase) async throws -> (ZedgeCore.Operation, version: Int)? {
        guard let row = try await db.raw("""
            SELECT id, kind, status, tenant_id, user_id, resource_type, resource_id, steps, progress, error, created_at,
                   updated_at, started_at, ended_at, version
            FROM \(ident: operations.name) WHERE id = \(bind: id)
            """).first() else { return nil }
        return (try RowCodec.decode(ZedgeCore.Operation.self, from: row), try row.decode(column: "version", as: Int.self))
    }

    /// Writes what a change of progress changes (status, steps, progress, error and the times) if the operation is
    /// still at `version`; true when it was.
    func writeProgress(_ changed: ZedgeCore.Operation, over version: Int, on db: any SQLDatabase) async throws -> Bool {
        let columns: [(column: String, value: any SQLExpression)] = [
            ("status", try RowCodec.bind(changed.status)), ("steps", try RowCodec.bind(changed.steps)),
            ("progress", try RowCodec.bind(changed.progress)), ("error", try RowCodec.bind(optional: changed.error)),
            ("updated_at", try RowCodec.bind(changed.updatedAt)), ("started_at", try RowCodec.bind(optional: changed.startedAt)),
            ("ended_at", try RowCodec.bind(optional: changed.endedAt)), ("version", SQLBind(version + 1)),
        ]
        let unchanged = SQLBinaryExpression(SQLIdentifier("version"), .equal, SQLBind(version))
        let statement = StatementText.update(operations.name, set: columns, id: changed.id, and: unchanged, in: db)
        return try await db.raw("\(statement)").all().count == 1
    }

    /// How many times `updateOperation` reads an operation that changed under it before it gives up.
    static let operationAttempts = 50

    public func latestOperation(resourceId: UUID, in tx: Transaction) async throws -> ZedgeCore.Operation? {
        try await tx.db.select().column("*").from(operations.name).where("resource_id", .equal, resourceId)
            .orderBy("id", .descending).limit(1).first().map { try RowCodec.decode(ZedgeCore.Operation.self, from: $0) }
    }

    public func tasks(operationId: UUID) async throws -> [AgentTask] {
        try await database.sql.select().column("*").from(tasks.name).where("operation_id", .equal, operationId)
            .orderBy("id").all().map { try RowCodec.decode(AgentTask.self, from: $0) }
    }

    public func resourcesInFlight() async throws -> Set<UUID> {
        Set(try await database.sql.raw("""
            SELECT resource_id FROM operations WHERE status IN ('QUEUED', 'RUNNING') AND resource_id IS NOT NULL
            """).all().map { try $0.decode(column: "resource_id", as: UUID.self) })
    }
}
