import Foundation
import Synchronization
import Testing

/// Says, once per stage, when a test coordinator has been in one stage (creating its database, starting, the
/// test's body, stopping) longer than that stage's limit, naming the test. CI's `watch-tests.sh` stops a run that
/// has been silent for 15 minutes and can print only thread stacks, which show no suspended task: this line says
/// where the suspended one is. It waits for nothing and fails nothing.
final class StageWatch: Sendable {
    enum Stage: String, Sendable {
        case creatingDatabase = "creating its database"
        case starting = "starting the coordinator"
        case body = "in the test's body"
        case stopping = "stopping the coordinator (HTTP client, service group, database)"

        /// Setting up and stopping take seconds alone, but over two minutes when the whole suite starts at once in
        /// CI; a body may take many minutes there (a reconciler test took 851 s). Both limits stay under
        /// `watch-tests.sh`'s 900 s.
        var limit: Duration { self == .body ? .seconds(600) : .seconds(300) }
    }

    private let state: Mutex<(stage: Stage, since: ContinuousClock.Instant, said: Bool)>
    private let name: String
    private let monitor: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(_ engine: TestEngine?) {
        let test = Test.current?.name ?? "?"
        name = engine.map { "\(test) [\($0.rawValue)]" } ?? test
        state = Mutex((.creatingDatabase, .now, false))
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(15))
                self?.check()
            }
        }
        monitor.withLock { $0 = task }
    }

    deinit { monitor.withLock { $0?.cancel() } }

    func enter(_ stage: Stage) { state.withLock { $0 = (stage, .now, false) } }

    /// Ends the watch (the coordinator has stopped, or failed to start).
    func end() { monitor.withLock { $0?.cancel() } }

    private func check() {
        let overdue: (Stage, Duration)? = state.withLock { current in
            let elapsed = ContinuousClock.now - current.since
            guard !current.said, elapsed > current.stage.limit else { return nil }
            current.said = true
            return (current.stage, elapsed)
        }
        if let (stage, elapsed) = overdue {
            print("TestCoordinator: \(name) still \(stage.rawValue) after \(Int(elapsed.components.seconds)) s")
        }
    }
}
