import Foundation
import Testing
@testable import ZedgeAgent

/// Two agents on one state dir would share a credential, a journal and a libvirt pool: the second one stops.
@Suite struct StateDirectoryLockTests {
    @Test func aSecondAgentOnTheSameStateDirIsRefusedUntilTheFirstLetsGo() throws {
        let dir = try makeTestDirectory("state-lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        var first: StateDirectoryLock? = try StateDirectoryLock(stateDirectory: dir.path)
        #expect(first != nil)
        let refusal = #expect(throws: AgentError.self) { try StateDirectoryLock(stateDirectory: dir.path) }
        #expect("\(refusal.map { "\($0)" } ?? "")".contains("in use by another zedge-agent (pid \(getpid()))"))
        first = nil
        // The lock went with its holder (a killed process loses it the same way).
        _ = try StateDirectoryLock(stateDirectory: dir.path)
        let other = try makeTestDirectory("state-lock-other")
        defer { try? FileManager.default.removeItem(at: other) }
        _ = try StateDirectoryLock(stateDirectory: other.path)
    }
}
