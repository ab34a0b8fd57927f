import ConsoleKitTerminal
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A ConsoleKit `Console` on stderr, so that progress bars never mix with the command's output on stdout
/// (`-o json --wait | jq` works). ConsoleKit's `Terminal` writes to stdout; this one writes the same plain text
/// to stderr and clears lines with the ANSI sequences ConsoleKit's ephemeral output expects.
final class StderrConsole: Console {
    private let info = Mutex<[AnySendableHashable: any Sendable]>([:])

    var userInfo: [AnySendableHashable: any Sendable] {
        get { info.withLock { $0 } }
        set { info.withLock { $0 = newValue } }
    }

    var supportsANSICommands: Bool { StandardError.isTerminal }

    var size: (width: Int, height: Int) {
        var w = winsize()
        _ = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &w)
        return (Int(w.ws_col), Int(w.ws_row))
    }

    func input(isSecure: Bool) -> String { readLine() ?? "" }

    func output(_ text: ConsoleText, newLine: Bool) {
        let string = text.description
        let width = size.width
        var lines = string.split(separator: "\n", omittingEmptySubsequences: false).reduce(0) { count, line in
            count + (width > 0 && line.count > width ? line.count / width : 0)
        } + string.filter { $0 == "\n" }.count
        if newLine { lines += 1 }
        didOutputLines(count: lines)
        FileHandle.standardError.write(Data((string + (newLine ? "\n" : "")).utf8))
    }

    func clear(_ type: ConsoleClear) {
        switch type {
        case .line: FileHandle.standardError.write(Data("\u{1B}[1A\u{1B}[2K".utf8))
        case .screen: FileHandle.standardError.write(Data("\u{1B}[2J".utf8))
        }
    }

    func report(error: String, newLine: Bool) {
        FileHandle.standardError.write(Data((error + (newLine ? "\n" : "")).utf8))
    }
}

/// Whether stderr is a terminal (and TERM is not "dumb"): progress bars then, plain lines otherwise.
public enum StandardError {
    public static var isTerminal: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }
}
