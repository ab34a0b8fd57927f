#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization

/// The child processes and temporary directories the harness made, so that every way out (normal end,
/// thrown error, SIGINT, SIGTERM) stops the children and removes the directories.
final class CleanupRegistry: Sendable {
    private let state = Mutex<(pids: Set<pid_t>, directories: Set<String>)>(([], []))

    init() {}

    func add(pid: pid_t) { state.withLock { _ = $0.pids.insert(pid) } }
    func remove(pid: pid_t) { state.withLock { _ = $0.pids.remove(pid) } }
    func add(directory: String) { state.withLock { _ = $0.directories.insert(directory) } }

    func removeDirectory(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
        state.withLock { _ = $0.directories.remove(directory) }
    }

    /// Stops every child (SIGTERM, then SIGKILL after `grace`) and removes every directory. Blocking.
    func cleanUpNow(grace: Duration = .seconds(5)) {
        let (pids, directories) = state.withLock { state in
            defer { state = ([], []) }
            return (state.pids, state.directories)
        }
        for pid in pids { Self.stop(pid, grace: grace) }
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// SIGTERM, wait up to `grace` for the exit, then SIGKILL; reaps the child. Blocking.
    static func stop(_ pid: pid_t, grace: Duration) {
        var status: Int32 = 0
        func gone() -> Bool {
            let result = waitpid(pid, &status, WNOHANG)
            return result == pid || (result == -1 && errno == ECHILD)  // ended, or reaped already
        }
        if gone() { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if gone() { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
    }

    /// On SIGINT or SIGTERM: clean up, then exit 128+signal. Keep the returned sources alive.
    func installSignalHandlers() -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                FileHandle.standardError.write(Data("zedge-bench: interrupted; stopping the servers\n".utf8))
                cleanUpNow(grace: .seconds(3))
                exit(128 + signalNumber)
            }
            source.resume()
            return source
        }
    }
}
