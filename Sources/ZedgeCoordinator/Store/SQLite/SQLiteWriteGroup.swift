import Foundation

/// Group commit for SQLite's one writer (issue #14): the transactions and single writes that queue for the writer
/// while it is busy share one SQLite transaction, and so one commit.
///
/// Why: each commit appends every page it changed to the WAL. Rows are keyed by time-ordered UUIDs (v7), so
/// consecutive writes change the same right-most pages of each table and index, and the same counters (quota usages,
/// pool and machine allocations); a create's two commits appended ~80 pages of 4 KiB. In one commit such a page is
/// written once for the whole group.
///
/// How: the first member opens the group (`BEGIN IMMEDIATE`); each transaction runs in a savepoint of it
/// (`SAVEPOINT` … `RELEASE`, or `ROLLBACK TO` when its body throws: the others keep their changes), and each single
/// write is a statement of it (a failed statement undoes only itself, https://sqlite.org/lang_conflict.html). A
/// member's caller is answered only once the group has committed (or failed). The holder commits when it lets go
/// with no transaction waiting for the writer, or once the group is full (`maximumMembers`) or its first member has
/// waited `maximumWait`:
/// a group is open only while the writer is held or being handed to a waiter, which then joins it or, if it is
/// not a grouped transaction, commits it first.
///
/// When an error undoes the whole transaction (SQLite does for a few, `SQLITE_FULL` or `RAISE(ROLLBACK)` among them;
/// https://sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"), every member so far fails
/// with `SQLiteWriteGroup.RolledBack`: none of their changes were kept.
///
/// Used only by the holder of the writer (`WriterLock`): `@unchecked Sendable`.
final class SQLiteWriteGroup: @unchecked Sendable {
    /// A member's answer: nil once the group committed, else why nothing of it was kept.
    typealias Completion = @Sendable ((any Error)?) -> Void

    /// The group's transaction was undone by another statement's error: nothing of this member was kept.
    struct RolledBack: Error, CustomStringConvertible {
        let cause: any Error
        var description: String { "the grouped SQLite transaction was rolled back by another write's error: \(cause)" }
    }

    /// Past this many members, the holder commits even with transactions waiting.
    let maximumMembers: Int
    /// Once the first member has waited this long for its commit (nanoseconds), likewise.
    let maximumWait: UInt64

    private(set) var isOpen = false
    private var members: [Completion] = []
    /// When the first member joined (`DispatchTime` nanoseconds).
    private var firstJoinedAt: UInt64 = 0

    /// `maximumMembers` and `maximumWait` bound how long a member waits for its commit beyond its own turn: by default
    /// 64 members and 5 ms.
    init(maximumMembers: Int = 64, maximumWait: Duration = .milliseconds(5)) {
        self.maximumMembers = maximumMembers
        let (seconds, attoseconds) = maximumWait.components
        self.maximumWait = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Whether the holder should commit now rather than hand the group on.
    var isFull: Bool {
        members.count >= maximumMembers
            || (!members.isEmpty && DispatchTime.now().uptimeNanoseconds - firstJoinedAt >= maximumWait)
    }

    /// Opens the group on `writer` unless it is open. Throws `SQLiteStoreError`.
    func open(on writer: SQLiteHandle) throws {
        guard !isOpen else { return }
        try writer.run("BEGIN IMMEDIATE")
        isOpen = true
    }

    /// `completion` is called when the group commits or fails.
    func join(_ completion: @escaping Completion) {
        if members.isEmpty { firstJoinedAt = DispatchTime.now().uptimeNanoseconds }
        members.append(completion)
    }

    /// Commits the group, if open, and answers its members (all failed, and the transaction rolled back, when the
    /// commit fails).
    func commit(on writer: SQLiteHandle) {
        guard isOpen else { return }
        isOpen = false
        let answered = members
        members = []
        do {
            try writer.run("COMMIT")
            for member in answered { member(nil) }
        } catch {
            if writer.inTransaction { try? writer.run("ROLLBACK") }
            for member in answered { member(error) }
        }
    }

    /// After a statement of the group failed with `error`: when that undid the whole transaction, the group is
    /// closed and its members fail. Returns whether it did.
    @discardableResult
    func checkRolledBack(on writer: SQLiteHandle, after error: any Error) -> Bool {
        guard isOpen, !writer.inTransaction else { return false }
        isOpen = false
        let failed = members
        members = []
        for member in failed { member(RolledBack(cause: error)) }
        return true
    }
}
