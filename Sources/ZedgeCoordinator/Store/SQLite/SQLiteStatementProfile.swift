import CSQLite3
import Foundation
import Synchronization

/// Where SQLite's writer spends its work, statement by statement: for each SQL text, how many times it ran, the
/// virtual-machine steps SQLite took for it (`SQLITE_STMTSTATUS_VM_STEP`, https://sqlite.org/c3ref/c_stmtstatus_counter.html:
/// a count the machine's noise does not move; triggers' steps are counted with the statement that fired them), and the
/// wall time from binding to the last row, rows handed to the caller included.
///
/// A diagnostic for issue #14, off by default: `ZEDGE_SQLITE_STATEMENT_PROFILE=<path>` makes the coordinator keep one
/// for its writer and write it to `<path>` as tab-separated lines (runs, VM steps, microseconds, SQL), most steps
/// first, when its database closes.
final class SQLiteStatementProfile: Sendable {
    struct Entry: Sendable, Equatable {
        var runs = 0
        var steps = 0
        var nanoseconds: UInt64 = 0
    }

    private let entries = Mutex<[String: Entry]>([:])

    init() {}

    /// Counts one run of `sql`: `steps` VM steps over `nanoseconds`.
    func record(_ sql: String, steps: Int, nanoseconds: UInt64) {
        entries.withLock { entries in
            entries[sql, default: Entry()].runs += 1
            entries[sql, default: Entry()].steps += steps
            entries[sql, default: Entry()].nanoseconds += nanoseconds
        }
    }

    /// Every statement so far, most VM steps first.
    var statements: [(sql: String, entry: Entry)] {
        entries.withLock { $0.map { ($0.key, $0.value) } }.sorted { $0.entry.steps > $1.entry.steps }
    }

    /// The profile as tab-separated lines with a header: runs, VM steps, microseconds, SQL (its whitespace folded).
    var text: String {
        var lines = ["runs\tvm_steps\tmicroseconds\tsql"]
        for (sql, entry) in statements {
            let folded = sql.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            lines.append("\(entry.runs)\t\(entry.steps)\t\(entry.nanoseconds / 1000)\t\(folded)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
