import Foundation
import Logging
import Testing
@testable import ZedgeCoordinator

/// Closing the PostgreSQL pool (`Database.awaitPoolClose`): a stop waits for the pool's run to end, and a run
/// that never ends is left behind after the limit with an error, so that a stopping coordinator still exits.
@Suite("PostgreSQL pool close")
struct PoolCloseTests {
    @Test(.timeLimit(.minutes(10)))
    func aRunThatEndsIsWaitedForAndOneThatNeverEndsIsLeftAfterTheLimit() async throws {
        let logs = LogCapture()
        let logger = Logger(label: "test") { logs.handler(label: $0) }

        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let opened = ContinuousClock.now
        let ending = Task { for await _ in gate { break } }
        let opener = Task {
            try await Task.sleep(for: .milliseconds(100))
            open.yield()
        }
        // A warning far beyond any scheduling delay: under the full suite's load the opener's 100 ms sleep once
        // took over 5 s, and the warning this case must not log was logged.
        await Database.awaitPoolClose(ending, warning: .seconds(3600), limit: .seconds(7200), logger: logger)
        #expect(ContinuousClock.now - opened >= .milliseconds(100), "returned before the run ended")
        try await opener.value
        #expect(logs.text.isEmpty, "\(logs.text)")

        let (never, keep) = AsyncStream.makeStream(of: Void.self)
        let stuck = Task { for await _ in never {} }
        let start = ContinuousClock.now
        await Database.awaitPoolClose(stuck, warning: .milliseconds(100), limit: .milliseconds(300), logger: logger)
        #expect(ContinuousClock.now - start >= .milliseconds(300))
        #expect(logs.text.contains("warning test the PostgreSQL connection pool has not closed its connections after"), "\(logs.text)")
        #expect(logs.text.contains("error test the PostgreSQL connection pool has not closed after"), "\(logs.text)")
        keep.finish()
    }
}
