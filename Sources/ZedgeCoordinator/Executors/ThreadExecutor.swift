import Foundation

/// One thread of its own as a Swift `TaskExecutor` (SE-0417), at a CPU priority of its own (`nice`, setpriority(2);
/// Linux sets it per thread). A task that prefers it (`withTaskExecutorPreference`) runs its synchronous stretches
/// here, behind this executor's other jobs only, and not on the shared cooperative pool.
///
/// Two uses (issue #14):
/// - SQLite's writer transactions (`SQLiteStore`, nice `writerNice`). The writer passes from one transaction to the
///   next by resuming the next one's task; on the cooperative pool that task waited behind every other job (HTTP,
///   TLS, long-polls), ~0.3–0.7 ms a hand-over, the writer idle all that while. And the writer is held while its
///   thread runs: at creates' saturation on 2 cores the thread waited for a CPU a third of the time it held the
///   writer (`/proc/<pid>/task/<tid>/schedstat`: 5.8 s on a CPU and 3.6 s runnable in 10 s), hence a higher priority.
/// - Background loops that read and judge a whole fleet (`LeaderLoop`'s `executor`, nice `backgroundNice`): the
///   reconciler's pass decodes thousands of rows and walks every host's report in stretches of 100 ms and more; on
///   the cooperative pool each stretch held one of its threads (one of two on 2 cores), and requests queued behind it.
///
/// Lowering a nice value (raising the priority) needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (systemd:
/// `LimitNICE=`, as the coordinator's unit sets); without either the thread runs at the process's priority
/// (`priority`). Raising it needs nothing.
///
/// `@unchecked Sendable`: `jobs`, `thread` and `priority` are used under `condition` only.
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false
    /// The thread's `pthread_self()`, once it runs.
    private var thread: pthread_t?
    private var outcome: Priority?

    /// SQLite's writer: 10 steps above a default thread, ~9 times its CPU share under the kernel's fair scheduler
    /// when both want a CPU.
    public static let writerNice: Int32 = -10
    /// Background loops: 10 steps below a default thread, ~1/9 of its CPU share when both want a CPU (and all of an
    /// idle one).
    public static let backgroundNice: Int32 = 10

    /// What became of the thread's request for its priority.
    struct Priority: Sendable, Equatable {
        /// The nice value asked for.
        var asked: Int32
        /// The thread's nice value (getpriority(2)).
        var nice: Int32
        /// The errno of a refused setpriority(2) (EPERM or EACCES), or nil.
        var refusal: Int32?
    }

    /// `name`: at most 15 bytes (Linux's limit for a thread's name; a longer one is not set). `nice`: the priority the
    /// thread asks for (nil: none).
    public init(name: String, nice: Int32?) {
        let thread = Thread { self.serve(name: name, nice: nice) }  // the thread keeps its executor until `stop()`
        thread.start()
    }

    /// The thread's priority once it has started (waits for it to start).
    var priority: Priority {
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil { condition.wait() }
        return outcome!
    }

    public func enqueue(_ job: UnownedJob) {
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
    public func stop() {
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

    private func serve(name: String, nice: Int32?) {
        Thread.current.name = name  // from the thread itself: Linux names only the calling thread
        var priority = Priority(asked: nice ?? 0, nice: 0, refusal: nil)
        if let nice, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) != 0 {  // 0: this thread
            priority.refusal = errno
        }
        errno = 0
        priority.nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        condition.lock()
        thread = pthread_self()
        outcome = priority
        condition.broadcast()
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
