import Foundation
import Logging
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// The liveness flush writes a second's heartbeats in transactions of `hostsPerTransaction` hosts (issue #14 item
/// 3: one transaction for thousands of hosts held SQLite's writer while requests waited), and a chunk that fails
/// loses nothing: it and the chunks after it go back to the tracker, the ones before it stay written.
@Suite struct LivenessFlushTests {
    static let at = Date(timeIntervalSince1970: 1_800_000_000)

    static func service(_ store: Store, _ tracker: LivenessTracker, hostsPerTransaction: Int) -> LivenessService {
        LivenessService(
            hosts: store.hosts, metricSamples: store.metricSamples, auditLogs: store.auditLogs, tracker: tracker,
            heartbeatInterval: 10, missedBeforeOffline: 3, hostsPerTransaction: hostsPerTransaction, logger: Logger(label: "test"))
    }

    /// A tracker holding one heartbeat (and its metric sample) of each machine, at `at`.
    static func tracker(_ machines: [ComputeMachine]) -> LivenessTracker {
        let tracker = LivenessTracker(sampleInterval: 60)
        for machine in machines {
            tracker.record(.init(host: machine.id, kind: .computeMachine, at: at, metrics: HostMetrics(cpuUsagePercent: 12),
                                 observedVms: [], agentVersion: "test"))
        }
        return tracker
    }

    /// The machines whose stored last heartbeat is `at`.
    static func written(_ machines: [ComputeMachine], _ store: Store) async throws -> Set<UUID> {
        var written: Set<UUID> = []
        for machine in machines {
            let stored = try #require(try await store.computeMachines.find(machine.id))
            if let last = stored.lastHeartbeat, abs(last.timeIntervalSince(at)) < 0.001 { written.insert(machine.id) }
        }
        return written
    }

    static func sampleCount(_ database: Database) async throws -> Int {
        try #require(try await database.sql.raw("SELECT COUNT(*) AS n FROM metric_samples").first()?.decode(column: "n", as: Int.self))
    }

    @Test(arguments: TestEngine.all)
    func aFlushWritesEveryHostAndSampleInTransactionsOfItsChunkSize(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let store = Store(database: database)
            let machines = try await MachineFixture.machines(5, in: store)
            let tracker = Self.tracker(machines)
            let commitsBefore = database.sqliteWriterUse?.commits
            try await Self.service(store, tracker, hostsPerTransaction: 2).flush()
            #expect(try await Self.written(machines, store) == Set(machines.map(\.id)))
            #expect(try await Self.sampleCount(database) == 5)
            #expect(tracker.drain().beats.isEmpty)
            // SQLite: five hosts two at a time are three transactions (PostgreSQL has no single writer to count on).
            if let commitsBefore, let after = database.sqliteWriterUse?.commits { #expect(after - commitsBefore == 3) }
        }
    }

    @Test(arguments: TestEngine.all)
    func aChunkThatFailsGoesBackToTheTrackerWithTheChunksAfterIt(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let store = Store(database: database)
            // A flush goes in the order of host ids: the third machine's chunk (the second of two hosts each) fails.
            let machines = try await MachineFixture.machines(5, in: store).sorted { $0.id < $1.id }
            let refused = machines[2].hostname
            switch database.engine {
            case .sqlite:
                try await database.sql.raw("""
                    CREATE TRIGGER refuse_heartbeat BEFORE UPDATE OF last_heartbeat ON compute_machines
                    WHEN NEW.hostname = '\(unsafeRaw: refused)' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                    """).run()
            case .postgres:
                try await database.sql.raw("""
                    CREATE FUNCTION refuse_heartbeat() RETURNS trigger AS $$ BEGIN
                    IF NEW.hostname = '\(unsafeRaw: refused)' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$
                    LANGUAGE plpgsql
                    """).run()
                try await database.sql.raw("""
                    CREATE TRIGGER refuse_heartbeat BEFORE UPDATE OF last_heartbeat ON compute_machines
                    FOR EACH ROW EXECUTE FUNCTION refuse_heartbeat()
                    """).run()
            }
            let tracker = Self.tracker(machines)
            await #expect(throws: (any Error).self) { try await Self.service(store, tracker, hostsPerTransaction: 2).flush() }
            // The first chunk is written with its samples; the failed one and the last are back in the tracker.
            #expect(try await Self.written(machines, store) == Set(machines[..<2].map(\.id)))
            #expect(try await Self.sampleCount(database) == 2)
            let (beats, samples) = tracker.drain()
            #expect(Set(beats.map(\.host)) == Set(machines[2...].map(\.id)))
            #expect(samples.count == 3)
        }
    }
}
