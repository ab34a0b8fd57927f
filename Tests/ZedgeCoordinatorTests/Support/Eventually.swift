import Foundation
import Testing

/// Polls until `condition` holds, recording an issue if the (generous) deadline passes first. Tests wait
/// for asynchronous effects this way, never by asserting on wall-clock time.
func eventually(_ what: String, within seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("not within \(seconds) s: \(what)")
}
