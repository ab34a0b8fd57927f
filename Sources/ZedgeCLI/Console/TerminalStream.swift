import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ZedgeTransport

/// This terminal as the user's end of a serial console (`zedgectl instance console`): standard input in raw mode
/// (every key goes to the guest as typed, Ctrl-C included), the guest's bytes to standard output. Ctrl-] ends the
/// session, as in `virsh console` and telnet. `restore()` puts the terminal back as it was.
final class TerminalStream: ByteStream, @unchecked Sendable {
    /// Ctrl-] (GS).
    static let escape: UInt8 = 0x1D
    private var saved: termios?
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Set once Ctrl-] was read (by the reader thread only).
    private var escaped = false

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CLIError.usage("cannot make a pipe: errno \(errno)") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        if isatty(STDIN_FILENO) == 1 {
            var original = termios()
            if tcgetattr(STDIN_FILENO, &original) == 0 {
                saved = original
                var raw = original
                cfmakeraw(&raw)
                tcsetattr(STDIN_FILENO, TCSANOW, &raw)
            }
        }
    }

    deinit {
        restore()
        close(wakeRead)
        close(wakeWrite)
    }

    func restore() {
        guard var original = saved else { return }
        tcsetattr(STDIN_FILENO, TCSANOW, &original)
        saved = nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if escaped { return 0 }
        while true {
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                return 0
            }
            if fds[1].revents != 0 { return 0 }
            let count = Glibc.read(STDIN_FILENO, buffer.baseAddress, buffer.count)
            guard count > 0 else { return 0 }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            if let end = bytes.firstIndex(of: Self.escape) {
                escaped = true
                return end
            }
            return count
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw CLIError.usage("cannot write to the terminal: errno \(errno)") }
            offset += written
        }
    }

    func shutdown() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }
}
