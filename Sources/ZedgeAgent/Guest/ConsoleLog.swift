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
import ZedgeCore

/// A VM's serial console log (`<stateDir>/console/<uuid>.log`): QEMU writes it through virtlogd, which
/// rotates it at its `max_size` (2 MiB by default) into `<uuid>.log.0`, `.1`, … (`max_backups`, 3 by default),
/// so it stays bounded. Only the file's tail is ever read.
public struct ConsoleLog: Sendable {
    public let layout: AgentLayout
    /// At most this many bytes are read from the end of the logs for one answer.
    public let maximumReadBytes: Int

    public init(layout: AgentLayout, maximumReadBytes: Int = 4 << 20) {
        self.layout = layout
        self.maximumReadBytes = maximumReadBytes
    }

    /// The last `lines` lines of VM `vm`'s console, oldest first, without `\r\n` (invalid UTF-8 replaced);
    /// continues into the newest rotated file when the current one has fewer. No log yet: no lines.
    public func tail(vm: UUID, lines: Int) throws -> ConsoleLogOutput {
        let path = layout.consoleLogPath(vm)
        return try Self.tail(paths: [path, path + ".0"], lines: max(0, lines), maximumReadBytes: maximumReadBytes)
    }

    /// The tail across `paths`, newest file first.
    static func tail(paths: [String], lines wanted: Int, maximumReadBytes: Int) throws -> ConsoleLogOutput {
        var collected: [String] = []  // newest first
        var more = false
        var budget = maximumReadBytes
        for path in paths {
            guard collected.count < wanted, budget > 0 else {
                if Self.size(path).map({ $0 > 0 }) == true { more = true }
                break
            }
            guard let part = try readTail(path, lines: wanted - collected.count, maximumBytes: budget) else { continue }
            budget -= part.bytesRead
            collected.append(contentsOf: part.lines.reversed())
            if part.more { more = true; break }
        }
        if collected.count > wanted {
            collected = Array(collected.prefix(wanted))
            more = true
        }
        return ConsoleLogOutput(lines: collected.reversed(), truncated: more)
    }

    /// Reads backwards from the end of `path` in chunks until it has `lines` complete lines; nil if there is no
    /// file. `more` when the file holds lines before those returned.
    static func readTail(_ path: String, lines wanted: Int, maximumBytes: Int) throws
        -> (lines: [String], more: Bool, bytesRead: Int)?
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw AgentError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AgentError("cannot stat \(path): errno \(errno)") }
        let size = Int(st.st_size)
        guard size > 0, wanted > 0 else { return ([], size > 0, 0) }
        let chunk = 64 << 10
        var start = size
        var buffer: [UInt8] = []
        var newlines = 0
        // The final line may lack its "\n"; then `wanted` lines need only `wanted - 1` newlines before it.
        while start > 0, size - start < maximumBytes {
            let length = min(chunk, start, maximumBytes - (size - start))
            start -= length
            var piece = [UInt8](repeating: 0, count: length)
            let n = piece.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(start)) }
            guard n == length else { throw AgentError("cannot read \(path): errno \(errno)") }
            newlines += piece.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            buffer = piece + buffer
            if newlines > wanted { break }
        }
        var text = buffer[...]
        if text.last == 0x0A { text = text.dropLast() }
        var split = text.split(separator: 0x0A, omittingEmptySubsequences: false).map {
            String(decoding: $0.last == 0x0D ? $0.dropLast() : $0, as: UTF8.self)
        }
        var more = false
        if start > 0 {
            split.removeFirst()  // Began mid-line (or right after a newline before what was read).
            more = true
        }
        if split.count > wanted {
            split.removeFirst(split.count - wanted)
            more = true
        }
        return (split, more, size - start)
    }

    static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Deletes VM `vm`'s console log and its rotated files.
    public func remove(vm: UUID) {
        let path = layout.consoleLogPath(vm)
        unlink(path)
        for i in 0..<10 { unlink("\(path).\(i)") }
    }
}
