#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX file operations the agent's small files need: the CloudBox files and the state dir's
/// (blocking; the files are small). Atomic replaces are fsynced, and so is their directory.
enum DurableFiles {
    static func createDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
    }

    /// The file's bytes, or nil if it does not exist.
    static func read(_ path: String) throws -> Data? {
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            if !FileManager.default.fileExists(atPath: path) { return nil }
            throw AgentError("cannot read \(path): \(error)")
        }
    }

    /// Replaces `path` with `data`: a temporary file created with `mode` (umask notwithstanding) is written,
    /// fsynced and renamed over it, then the directory is fsynced so the rename survives a power cut.
    static func writeAtomically(_ data: Data, to path: String, mode: mode_t) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp").path
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw failure("cannot create", temporary) }
        do {
            guard fchmod(fd, mode) == 0 else { throw failure("cannot chmod", temporary) }
            try writeAll(fd, data, path: temporary)
            guard fsync(fd) == 0 else { throw failure("cannot fsync", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            unlink(temporary)
            throw failure("cannot write", temporary)
        }
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot replace", path)
            unlink(temporary)
            throw error
        }
        syncDirectory(directory)
    }

    /// Appends `data` to `path` (created with `mode` if missing) and fsyncs it.
    static func append(_ data: Data, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("cannot open", path) }
        defer { close(fd) }
        try writeAll(fd, data, path: path)
        guard fsync(fd) == 0 else { throw failure("cannot fsync", path) }
    }

    /// Removes `path` (absent is fine) and fsyncs its directory.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw failure("cannot remove", path) }
        syncDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    private static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot write", path)
                }
                offset += n
            }
        }
    }

    /// Best effort: a directory that cannot be opened or synced leaves the change in place, only less durable.
    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func failure(_ what: String, _ path: String) -> AgentError {
        AgentError("\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
