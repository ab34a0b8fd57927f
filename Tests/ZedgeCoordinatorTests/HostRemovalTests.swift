import Foundation
import Logging
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Removing a compute machine while its agent still runs: the agent is refused from then on, and what it
/// sent just before does not stop the other hosts' heartbeats from being written.
@Suite struct HostRemovalTests {
    @Test(arguments: TestEngine.all)
    func aRemovedMachinesAgentIsRefusedAndOtherHostsKeepBeating(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let f = try await AgentProtocolTests.Fixture.make(c)
            let gone = try await f.register(try await f.token(), ip: "10.0.0.1", hostname: "gone").decode(RegisterResponse.self)
            let kept = try await f.register(try await f.token(), ip: "10.0.0.2", hostname: "kept").decode(RegisterResponse.self)
            let goneId = try #require(gone.machineId), keptId = try #require(kept.machineId)
            #expect(try await c.client.patch("/api/v1/compute-machines/\(goneId)", token: f.admin, ["status": "DECOMMISSIONING"]).status == 200)

            // Its first heartbeat (a metric sample waiting to be written) and then, before the next flush, its removal.
            #expect(try await f.heartbeat(gone.credential).status == 200)
            #expect(try await c.client.delete("/api/v1/compute-machines/\(goneId)", token: f.admin).status == 204)

            // Its credential went with it, also from the SQLite coordinator's memory.
            #expect(try await f.heartbeat(gone.credential).status == 401)
            // The other host's heartbeats are still written (a flush that failed on the removed host's sample
            // would have failed for every host, every second).
            #expect(try await f.heartbeat(kept.credential).status == 200)
            try await eventually("the kept machine's heartbeat is written") {
                try await c.client.get("/api/v1/compute-machines/\(keptId)", token: f.admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }
            let samples = try await c.client.get("/api/v1/compute-machines/\(keptId)/metrics", token: f.admin).decode(Page<MetricSample>.self)
            #expect(samples.items.count == 1)
        }
    }

    /// The flush asks which hosts still exist a batch at a time; every batch counts.
    @Test(arguments: TestEngine.all)
    func existingHostsAreFoundAcrossBatches(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let store = Store(database: database)
            let present = Set(try await MachineFixture.machines(5, in: store).map(\.id))
            let asked = present.union((0..<4).map { _ in UUID() })
            let found = try await database.transaction { tx in
                try await SQLHostRepository.existing(asked, in: "compute_machines", batch: 2, on: tx.db)
            }
            #expect(found == present)
        }
    }
}
