import CSQLite3
import Foundation
import Logging
import NIOPosix
import Synchronization

/// Checkpoints the coordinator's WAL on a connection of its own, off the writer (issue #14).
///
/// By default SQLite checkpoints in the connection that commits once the WAL passes 1,000 pages
/// (https://sqlite.org/wal.html#automatic_checkpoint): the commit that crosses the line copies the WAL into the
/// database file and, with `synchronous = NORMAL`, waits for `fdatasync` — while it holds the one writer every
/// other write queues behind. Here the writer's WAL hook (`sqlite3_wal_hook`, which replaces the automatic
/// checkpoint) tells this checkpointer the WAL's size after each commit; past `pages` it runs a PASSIVE checkpoint
/// (`sqlite3_wal_checkpoint_v2`) on NIO's blocking-I/O thread pool. A PASSIVE checkpoint never blocks the writer or
/// the readers: it copies the frames no reader still needs, and the writer starts the WAL over once all are copied.
/// Durability is what it was: a commit is durable once a checkpoint has synced it.
///
/// `@unchecked Sendable`: the connection is used under `connection`'s lock only.
final class SQLiteCheckpointer: @unchecked Sendable {
    /// The WAL size (pages, 4 KiB each by default) past which a checkpoint starts.
    let pages: Int
    let logger: Logger
    private let connection: Mutex<SQLiteHandle?>
    private let running = Atomic<Bool>(false)
    private let threadPool: NIOThreadPool
    private let totals = Mutex<Totals>(Totals())
    private let commitCounts = Mutex<Commits>(Commits())

    /// The writer's commits so far, from its WAL hook: a count the machine's noise does not move (issue #14).
    struct Commits: Sendable, Equatable {
        /// Transactions committed (an autocommitted single statement is one).
        var commits = 0
        /// Pages appended to the WAL by them (4 KiB each by default): each commit appends every page it changed.
        var walPagesWritten = 0
        /// The WAL's size after the latest commit, in pages: a smaller one next means the WAL started over.
        var lastWalPages = 0
    }

    /// What the checkpoints so far did.
    struct Totals: Sendable {
        /// Checkpoints that ran.
        var checkpoints = 0
        /// Checkpoints skipped because another connection held the checkpoint lock (SQLITE_BUSY; a reader's
        /// connection recovering the WAL as it opens, say): the next commit past the threshold tries again.
        var busy = 0
        /// After the latest checkpoint, how many frames of the WAL as it then was were in the database file: SQLite's
        /// `pnCkpt`, which counts the whole WAL since it last started over, not what that checkpoint alone copied.
        var walFramesCopied = 0
    }

    /// Opens its connection to `path` (the writer's file). Throws `SQLiteStoreError` when it cannot.
    init(path: String, pages: Int, threadPool: NIOThreadPool, logger: Logger) throws {
        self.pages = pages
        self.threadPool = threadPool
        self.logger = logger
        connection = Mutex(try SQLiteHandle(path: path, readOnly: false))
    }

    var done: Totals { totals.withLock { $0 } }

    /// The writer's commits so far.
    var commits: Commits { commitCounts.withLock { $0 } }

    /// The writer committed and its WAL holds `walPages` pages (called on the writer's thread, inside its commit:
    /// it only starts the checkpoint).
    func committed(walPages: Int) {
        commitCounts.withLock {
            $0.commits += 1
            $0.walPagesWritten += walPages >= $0.lastWalPages ? walPages - $0.lastWalPages : walPages
            $0.lastWalPages = walPages
        }
        guard walPages >= pages, running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        threadPool.submit { [self] _ in
            defer { running.store(false, ordering: .releasing) }
            checkpoint()
        }
    }

    /// One PASSIVE checkpoint now, on the calling thread (a blocking call).
    func checkpoint() {
        connection.withLock { connection in
            guard let connection else { return }
            do {
                let (_, copied) = try connection.checkpointPassive()
                totals.withLock {
                    $0.checkpoints += 1
                    $0.walFramesCopied = copied
                }
            } catch let error as SQLiteStoreError where error.code & 0xFF == SQLITE_BUSY {  // and its extended codes
                totals.withLock { $0.busy += 1 }
                logger.debug("WAL checkpoint skipped: another connection holds the checkpoint lock")
            } catch {
                logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Closes the connection (after a checkpoint in progress ends); later commits start none.
    func close() {
        connection.withLock { connection in
            connection?.close()
            connection = nil
        }
    }
}
