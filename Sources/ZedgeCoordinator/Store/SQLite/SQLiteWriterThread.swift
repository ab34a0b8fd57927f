import Foundation

/// One thread of its own on which SQLite's writer transactions run, as a Swift `TaskExecutor` (SE-0417).
///
/// Why (issue #14): the writer passes from one transaction to the next by resuming the next one's task, and on the
/// shared cooperative pool that task waited behind every other job (HTTP, TLS, long-polls): ~0.3–0.7 ms a
/// hand-over with creates in flight, the writer idle all that while, a third of its time. A transaction that prefers
/// this executor resumes here, behind the other writer transactions only.
///
/// `@unchecked Sendable`: `jobs` is used under `condition` only.
final class SQLiteWriterThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false
    /// The thread's `pthread_self()`, once it runs.
    private var thread: pthread_t?

    /// `name`: at most 15 bytes (Linux's limit for a thread's name; a longer one is not set).
    init(name: String = "sqlite-writer") {
        let thread = Thread { self.serve() }  // the thread keeps its executor until `stop()`
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: UnownedJob) {
        condition.lock()
        guard !stopped else {
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())  // the store is closed: its statements only fail now
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the jobs already queued have run; a job enqueued after runs on the enqueuing thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Whether the caller runs on this executor's thread.
    var isCurrent: Bool {
        condition.lock()
        defer { condition.unlock() }
        return thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
    }

    private func serve() {
        condition.lock()
        thread = pthread_self()
        condition.unlock()
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
