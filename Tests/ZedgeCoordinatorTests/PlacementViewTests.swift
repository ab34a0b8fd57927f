import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Creates rank over the fleet held in memory (`PlacementView`, issue #14). Held stale on purpose here (an hour),
/// it is never the reason for a wrong answer: a machine that joined since is found, and a machine or pool that
/// stopped taking work since is not chosen (the claim re-checks them) and is named in the 409.
@Suite("Placement view")
struct PlacementViewTests {
    static let heldStale: @Sendable (inout CoordinatorConfiguration) -> Void = {
        $0.heartbeatIntervalSeconds = 120
        $0.placementViewMaxAgeMilliseconds = 3_600_000
    }

    @Test(arguments: TestEngine.all)
    func aViewHeldStaleNeitherPlacesNorRefusesWrongly(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: Self.heldStale) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            let a = try await f.addMachine(ip: "10.30.0.1", cpu: 2, memory: 64)
            func machine(of response: APIResponse) throws -> UUID? {
                try response.decode(InstanceService.Accepted.self).instance.instance.computeMachineId
            }
            // The first create reads the fleet: A alone, which it fills.
            let first = try await f.create("first")
            #expect(first.status == 202, "\(first.text)")
            #expect(try machine(of: first) == a.id)

            // B joins after the view was read. The view has no room; the create reads afresh and finds B.
            let b = try await f.addMachine(ip: "10.30.0.2", cpu: 8, memory: 64)
            let second = try await f.create("second")
            #expect(second.status == 202, "\(second.text)")
            #expect(try machine(of: second) == b.id)

            // B goes to MAINTENANCE after that read: the view still offers it, the claim refuses it, and the 409
            // (from a fresh read) says why.
            #expect(try await c.client.patch("/api/v1/compute-machines/\(b.id)", token: f.admin, ["status": "MAINTENANCE"]).status == 200)
            let refused = try await f.create("third")
            #expect(refused.status == 409, "\(refused.text)")
            #expect(refused.text.contains("in MAINTENANCE"), "\(refused.text)")

            // Back to ACTIVE: the view (read while B was in MAINTENANCE) refuses, the fresh read places on B.
            #expect(try await c.client.patch("/api/v1/compute-machines/\(b.id)", token: f.admin, ["status": "ACTIVE"]).status == 200)
            let fourth = try await f.create("fourth")
            #expect(fourth.status == 202, "\(fourth.text)")
            #expect(try machine(of: fourth) == b.id)

            // The pool stops taking work: the claim refuses B (room and status are fine) and the 409 names the pool.
            #expect(try await c.client.patch("/api/v1/resource-pools/\(f.pool.id)", token: f.admin, ["status": "MAINTENANCE"]).status == 200)
            let poolRefused = try await f.create("fifth")
            #expect(poolRefused.status == 409, "\(poolRefused.text)")
            #expect(poolRefused.text.contains("in a pool that is not ACTIVE"), "\(poolRefused.text)")

            // A pool the view knows that was deleted since: the fresh read's 400 naming the field, not a 409 over
            // a pool without machines.
            let empty = try await c.client.post("/api/v1/resource-pools", token: f.admin, [
                "name": "empty", "edgeDataCenterId": f.dataCenter.id.uuidString,
            ]).decode(ResourcePool.self)
            let noMachines = try await f.create("sixth", extra: ["resourcePoolId": empty.id.uuidString])
            #expect(noMachines.status == 409 && noMachines.text.contains("no candidate machines"), "\(noMachines.text)")
            #expect(try await c.client.delete("/api/v1/resource-pools/\(empty.id)", token: f.admin).status == 204)
            let gone = try await f.create("seventh", extra: ["resourcePoolId": empty.id.uuidString])
            #expect(gone.status == 422 && gone.problemFields == ["resourcePoolId"], "\(gone.text)")

            // No claim was taken twice or left behind by the refused tries.
            #expect(try await f.consistency().ok)
            let placed = try await c.client.get("/api/v1/compute-machines/\(b.id)", token: f.admin).decode(ComputeMachine.self)
            #expect(placed.allocatedCpuCores == 4)
        }
    }

    /// Creates placed concurrently spread as load_balance places them one after the other: each ranking counts the
    /// first choices of the placements still between their ranking and their claim (`PlacementView.Assumption`),
    /// rather than all taking the machine that was least utilised when they ranked.
    @Test(arguments: TestEngine.all, [false, true])
    func concurrentCreatesSpreadAsSequentialOnesDo(engine: TestEngine, reloading: Bool) async throws {
        // `reloading`: the view is read afresh at each ranking that finds no read under way, so reads replace it
        // while placements are in flight and just after they commit.
        try await TestCoordinator.with(engine, configure: reloading ? { Self.heldStale(&$0); $0.placementViewMaxAgeMilliseconds = 0 } : Self.heldStale) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            var machines: [UUID] = []
            for n in 1...6 { machines.append(try await f.addMachine(ip: "10.31.0.\(n)", cpu: 16, memory: 64).id) }
            // The first create reads the fleet into the view, alone (reads that end later replace it).
            let warm = try await f.create("warm")
            #expect(warm.status == 202, "\(warm.text)")
            let responses = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for n in 0..<17 { group.addTask { try await f.create("concurrent-\(n)") } }
                return try await group.reduce(into: [APIResponse]()) { $0.append($1) }
            }
            #expect(responses.allSatisfy { $0.status == 202 }, "\(responses.filter { $0.status != 202 }.map(\.text))")
            var perMachine: [UUID: Int] = [:]
            for machine in machines {
                let placed = try await c.client.get("/api/v1/compute-machines/\(machine)", token: f.admin).decode(ComputeMachine.self)
                perMachine[machine] = placed.allocatedCpuCores / 2
            }
            // 18 instances of 2 cores on six machines of 16: three each, as one create at a time would place them. With
            // reads replacing the view meanwhile, one placement may be counted twice for an instant (it committed as
            // a read began, and the read saw it): one off at most then.
            #expect(perMachine.values.reduce(0, +) == 18)
            let counts = perMachine.values.sorted()
            if reloading {
                #expect(counts.last! - counts.first! <= 2, "instances per machine: \(perMachine)")
            } else {
                #expect(counts == Array(repeating: 3, count: 6), "instances per machine: \(perMachine)")
            }
            #expect(try await f.consistency().ok)
        }
    }
}
