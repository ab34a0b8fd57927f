#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` on `<stateDir>/agent.lock`, held for the life of the process: two agents on one state
/// dir would share a credential, a journal and a libvirt pool and undo each other's work. The kernel drops the lock
/// when the process dies (even by SIGKILL), so a crash never leaves a stale lock. The file holds the holder's pid,
/// for the error message only.
public final class StateDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock or fails at once (no waiting).
    /// - Throws: `AgentError` naming the state dir and, when it can be read, the pid of the agent holding it.
    public init(stateDirectory: String) throws {
        path = stateDirectory + "/agent.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw AgentError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            let holder = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmed() : ""
            if reason == EWOULDBLOCK {
                throw AgentError("the state dir \(stateDirectory) is in use by another zedge-agent"
                    + (holder.isEmpty ? "" : " (pid \(holder))") + "; stop it first, or give this one its own --state-dir")
            }
            throw AgentError("cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    deinit { close(descriptor) }
}
