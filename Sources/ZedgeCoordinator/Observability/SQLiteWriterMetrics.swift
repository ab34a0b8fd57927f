import Prometheus
import Synchronization

/// SQLite's writer as Prometheus counters, from `SQLiteWriterUse` read at each scrape:
/// `zedge_sqlite_writer_acquisitions_total`, `zedge_sqlite_writer_held_seconds_total`,
/// `zedge_sqlite_writer_waited_seconds_total`, `zedge_sqlite_writer_handover_seconds_total`, and the counts
/// `zedge_sqlite_writer_statements_total`, `zedge_sqlite_writer_commits_total` and
/// `zedge_sqlite_writer_wal_pages_total`.
/// `rate(held) + rate(handover)` is the writer's busy fraction (1: every write queues behind another).
public final class SQLiteWriterMetrics: Sendable {
    let read: @Sendable () -> SQLiteWriterUse?
    let acquisitions: Counter
    let held: Counter
    let waited: Counter
    let handOver: Counter
    let statements: Counter
    let commits: Counter
    let walPages: Counter
    /// What the counters already hold.
    private let counted = Mutex(SQLiteWriterUse())

    public init(registry: PrometheusCollectorRegistry, read: @escaping @Sendable () -> SQLiteWriterUse?) {
        self.read = read
        acquisitions = registry.makeCounter(
            name: "zedge_sqlite_writer_acquisitions_total",
            help: "Times SQLite's one writer was taken (a transaction or a single write), since this replica started.")
        held = registry.makeCounter(
            name: "zedge_sqlite_writer_held_seconds_total",
            help: "Wall time SQLite's writer was held, from getting it to letting it go.")
        waited = registry.makeCounter(
            name: "zedge_sqlite_writer_waited_seconds_total",
            help: "Wall time callers waited for SQLite's writer, summed over callers.")
        handOver = registry.makeCounter(
            name: "zedge_sqlite_writer_handover_seconds_total",
            help: "Wall time SQLite's writer spent handed to a waiter that had yet to run (reserved and idle).")
        statements = registry.makeCounter(
            name: "zedge_sqlite_writer_statements_total",
            help: "Statements SQLite's writer ran, BEGIN and COMMIT included.")
        commits = registry.makeCounter(
            name: "zedge_sqlite_writer_commits_total",
            help: "Transactions SQLite's writer committed that changed the database (an autocommitted write is one).")
        walPages = registry.makeCounter(
            name: "zedge_sqlite_writer_wal_pages_total",
            help: "Pages SQLite's writer appended to the WAL (each commit appends every page it changed).")
    }

    /// Brings the counters up to the store's figures.
    func refresh() {
        guard let now = read() else { return }
        let before = counted.withLock { counted in
            defer { counted = now }
            return counted
        }
        acquisitions.increment(by: Int64(max(0, now.acquisitions - before.acquisitions)))
        held.increment(by: Double(now.heldNanoseconds &- before.heldNanoseconds) / 1e9)
        waited.increment(by: Double(now.waitedNanoseconds &- before.waitedNanoseconds) / 1e9)
        handOver.increment(by: Double(now.handOverNanoseconds &- before.handOverNanoseconds) / 1e9)
        statements.increment(by: Int64(max(0, now.statements - before.statements)))
        commits.increment(by: Int64(max(0, now.commits - before.commits)))
        walPages.increment(by: Int64(max(0, now.walPagesWritten - before.walPagesWritten)))
    }
}
