import Foundation
import Testing
import ZedgeCore

@testable import ZedgeAgent

@Suite("TaskJournal")
struct TaskJournalTests {
    /// A fresh journal path in a new temporary folder (nested, so that folder creation is exercised too).
    private static func journalPath() -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("zedge-journal-\(UUID().uuidString)", isDirectory: true)
        return dir.appendingPathComponent("state/nested/journal.db").path
    }

    private static func cleanUp(_ path: String) {
        let root = URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        try? FileManager.default.removeItem(at: root)
    }

    private static let payload: JSONValue = ["vmName": "web-1", "vcpus": 2, "tags": ["a", "b"], "ratio": 0.5]

    @Test func receivedTwiceKeepsOneEntryUnchanged() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let id = UUID()
        let first = try journal.received(id: id, kind: .vmCreate, payload: Self.payload, attempt: 1)
        #expect(first.state == .received)
        #expect(first.payload == Self.payload)
        #expect(first.attempt == 1)

        let second = try journal.received(id: id, kind: .vmDelete, payload: ["other": true], attempt: 2)
        #expect(second == first)
        #expect(try journal.pending().map(\.id) == [id])
        #expect(try journal.entry(id: id) == first)
    }

    @Test func finishTwiceKeepsTheFirstResult() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let id = UUID()
        try journal.received(id: id, kind: .vmStart, payload: Self.payload, attempt: 1)
        try journal.started(id: id)
        let first = try journal.finished(id: id, outcome: .succeeded, error: nil, observed: ["state": "RUNNING"])
        #expect(first.state == .finished)
        #expect(first.resultReport == TaskResultReport(outcome: .succeeded, observed: ["state": "RUNNING"]))

        let second = try journal.finished(id: id, outcome: .failed, error: "boom", observed: nil)
        #expect(second == first)
        #expect(second.outcome == .succeeded)
        #expect(second.error == nil)

        // Starting again after finishing changes nothing either.
        #expect(try journal.started(id: id) == first)
    }

    @Test func unacknowledgedAndInterruptedLists() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let pending = UUID(), running = UUID(), done = UUID(), acked = UUID(), failed = UUID()
        for id in [pending, running, done, acked, failed] {
            try journal.received(id: id, kind: .diskCreate, payload: Self.payload, attempt: 1)
        }
        for id in [running, done, acked] { try journal.started(id: id) }
        try journal.finished(id: done, outcome: .succeeded, error: nil, observed: nil)
        try journal.finished(id: acked, outcome: .succeeded, error: nil, observed: nil)
        // Failing before starting (e.g. a payload that does not decode) is allowed.
        try journal.finished(id: failed, outcome: .failed, error: "bad payload", observed: nil)
        let ack = try journal.acknowledged(id: acked)
        #expect(ack.acknowledgedAt != nil)

        #expect(Set(try journal.unacknowledgedResults().map(\.id)) == [done, failed])
        #expect(try journal.interrupted().map(\.id) == [running])
        #expect(try journal.pending().map(\.id) == [pending])
        #expect(try journal.unacknowledgedResults().first { $0.id == failed }?.error == "bad payload")

        // Acknowledging an unfinished task does nothing; a second acknowledgement keeps the first time.
        #expect(try journal.acknowledged(id: running).acknowledgedAt == nil)
        #expect(try journal.acknowledged(id: acked).acknowledgedAt == ack.acknowledgedAt)
    }

    @Test func unknownIdsAreNotFound() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let id = UUID()
        #expect(try journal.entry(id: id) == nil)
        #expect(throws: JournalError.notFound(id)) { try journal.started(id: id) }
        #expect(throws: JournalError.notFound(id)) {
            try journal.finished(id: id, outcome: .failed, error: nil, observed: nil)
        }
        #expect(throws: JournalError.notFound(id)) { try journal.acknowledged(id: id) }
        #expect(throws: JournalError.notFound(id)) {
            try journal.recordEvent(taskId: id, TaskEventReport(sequence: 1, kind: .step, name: "x"))
        }
    }

    @Test func valuesAreBoundNotInterpolated() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let id = UUID()
        let nasty = "'); DROP TABLE tasks; -- \u{1F680} \"quoted\" \\ back"
        try journal.received(id: id, kind: .imageFetch, payload: ["url": .string(nasty)], attempt: 3)
        let entry = try journal.finished(id: id, outcome: .failed, error: nasty, observed: ["why": .string(nasty)])
        #expect(entry.error == nasty)
        #expect(entry.payload["url"]?.stringValue == nasty)
        #expect(entry.observed?["why"]?.stringValue == nasty)
        #expect(entry.attempt == 3)
    }

    @Test func survivesReopeningWithoutClose() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let running = UUID(), done = UUID()
        var first: TaskJournal? = try TaskJournal(path: path)
        try first!.received(id: running, kind: .vmCreate, payload: Self.payload, attempt: 1)
        try first!.started(id: running)
        try first!.received(id: done, kind: .vmStop, payload: [:], attempt: 2)
        try first!.finished(id: done, outcome: .succeeded, error: nil, observed: ["state": "SHUT_OFF"])

        // A second connection sees everything while the first is still open (nothing is held back in the
        // first connection's memory) ...
        let second = try TaskJournal(path: path)
        #expect(try second.interrupted().map(\.id) == [running])
        #expect(try second.unacknowledgedResults().map(\.id) == [done])

        // ... and after the first is dropped without close(), as after a crash.
        first = nil
        let third = try TaskJournal(path: path)
        #expect(try third.interrupted().first?.payload == Self.payload)
        let result = try #require(try third.unacknowledgedResults().first)
        #expect(result.resultReport == TaskResultReport(outcome: .succeeded, observed: ["state": "SHUT_OFF"]))
        #expect(result.attempt == 2)
        try third.close()
        try second.close()
    }

    @Test func closedJournalThrows() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        try journal.close()
        try journal.close()  // closing twice is harmless
        #expect(throws: JournalError.self) { try journal.pending() }
    }

    @Test func durabilityPragmasAreSet() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        #expect(try journal.pragma("synchronous") == "2")
        #expect(try journal.pragma("journal_mode") == "wal")
        #expect(try journal.pragma("user_version") == "1")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)  // payloads may carry secrets
        #expect(throws: JournalError.self) { try journal.pragma("synchronous=OFF") }
    }

    @Test func pruneDropsOnlyOldAcknowledgedEntries() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        let journal = try TaskJournal(path: path, now: { start })
        let acked = UUID(), unacked = UUID(), running = UUID()
        for id in [acked, unacked, running] {
            try journal.received(id: id, kind: .vmRestart, payload: [:], attempt: 1)
        }
        try journal.started(id: running)
        for id in [acked, unacked] { try journal.finished(id: id, outcome: .succeeded, error: nil, observed: nil) }
        try journal.acknowledged(id: acked)
        try journal.recordEvent(taskId: acked, TaskEventReport(sequence: 1, kind: .step, name: "define"))

        #expect(try journal.prune(olderThan: start) == 0)  // acknowledged exactly at `start`: not older
        #expect(try journal.prune(olderThan: start.addingTimeInterval(1)) == 1)
        #expect(try journal.entry(id: acked) == nil)
        #expect(try journal.entry(id: unacked) != nil)
        #expect(try journal.entry(id: running) != nil)
        #expect(try journal.unacknowledgedEvents().isEmpty)
        let stored = try #require(try journal.entry(id: unacked))
        #expect(stored.receivedAt == start)
        #expect(stored.finishedAt == start)
    }

    @Test func eventsAreIdempotentBySequence() throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let id = UUID()
        try journal.received(id: id, kind: .vmCreate, payload: [:], attempt: 1)
        #expect(try journal.nextEventSequence(taskId: id) == 1)
        try journal.recordEvent(taskId: id, TaskEventReport(sequence: 1, kind: .step, name: "disk", metadata: ["gb": 20]))
        try journal.recordEvent(taskId: id, TaskEventReport(sequence: 1, kind: .error, name: "other"))
        try journal.recordEvent(taskId: id, TaskEventReport(sequence: 2, kind: .step, name: "define"))
        #expect(try journal.nextEventSequence(taskId: id) == 3)

        let events = try journal.unacknowledgedEvents()
        #expect(events.map(\.report.sequence) == [1, 2])
        #expect(events[0].report == TaskEventReport(sequence: 1, kind: .step, name: "disk", metadata: ["gb": 20]))
        try journal.eventAcknowledged(taskId: id, sequence: 1)
        #expect(try journal.unacknowledgedEvents().map(\.report.name) == ["define"])
    }

    @Test func concurrentCallersShareOneJournal() async throws {
        let path = Self.journalPath()
        defer { Self.cleanUp(path) }
        let journal = try TaskJournal(path: path)
        let ids = (0..<40).map { _ in UUID() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    try journal.received(id: id, kind: .diskDelete, payload: [:], attempt: 1)
                    try journal.received(id: id, kind: .diskDelete, payload: [:], attempt: 1)
                    try journal.started(id: id)
                    try journal.finished(id: id, outcome: .succeeded, error: nil, observed: nil)
                }
            }
            try await group.waitForAll()
        }
        #expect(Set(try journal.unacknowledgedResults().map(\.id)) == Set(ids))
    }
}
