import ConsoleKitTerminal
import Foundation
import Synchronization

/// Shows how far something is, on stderr: a ConsoleKit progress bar when stderr is a terminal, otherwise one
/// plain line each time the text changes (so logs and tests see every step).
public final class ProgressReporter: Sendable {
    private let bar: ActivityIndicator<ProgressBar>?
    private let lastLine = Mutex<String?>(nil)
    private let write: @Sendable (String) -> Void

    /// - Parameters:
    ///   - terminal: draw a bar (default: whether stderr is a terminal).
    ///   - write: where plain lines go (default stderr).
    public init(title: String, terminal: Bool = StandardError.isTerminal,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.write = write
        if terminal {
            let console = StderrConsole()
            console.activityBarWidth = 30
            let bar = console.progressBar(title: title)
            bar.start(refreshRate: 100)
            self.bar = bar
        } else {
            self.bar = nil
        }
    }

    /// New text and fraction (0...1).
    public func update(_ text: String, fraction: Double) {
        if let bar {
            bar.activity.title = text
            bar.activity.currentProgress = fraction
            return
        }
        let changed = lastLine.withLock { last -> Bool in
            defer { last = text }
            return last != text
        }
        if changed { write(text + "\n") }
    }

    /// Ends the bar with ConsoleKit's [Done] or [Failed]; the final text as a line otherwise.
    public func finish(_ text: String, succeeded: Bool) {
        if let bar {
            bar.activity.title = text
            bar.activity.currentProgress = succeeded ? 1 : bar.activity.currentProgress
            if succeeded { bar.succeed() } else { bar.fail() }
        } else {
            update(text, fraction: 1)
        }
    }
}
