import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #15 item 4 (the reading half): operations are listed, scoped to who may see them, and show their events and
/// tasks; agent tasks are listed for ADMIN and OPERATOR, never with their payloads.
@Suite struct OperationFollowTests {
    @Test(arguments: TestEngine.all)
    func operationsAreListedWithTheirEventsAndTasksForThoseWhoMaySeeThem(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let t = try await TaskDispatchTests.TwoAgents.make(c)
            let admin = t.f.admin
            let onA = try await t.enqueue(on: t.a.machineId!)
            let onB = try await t.enqueue(on: t.b.machineId!, kind: .vmStop)
            let leased = try await t.poll(t.a, wait: 5)
            #expect(leased.map(\.id) == [onA.task.id])
            for (sequence, kind, name) in [(1, "STEP", "defined"), (2, "INFO", "booting"), (3, "STEP", "started")] {
                let event = try await c.client.post("/agent/v1/tasks/\(onA.task.id)/events", token: t.a.credential,
                                                    ["sequence": sequence, "kind": kind, "name": name])
                #expect(event.status == 204)
            }

            // The list, with its filters.
            let all = try await c.client.get("/api/v1/operations", token: admin).decode(Page<ZedgeCore.Operation>.self)
            #expect(Set(all.items.map(\.id)).isSuperset(of: [onA.operation.id, onB.operation.id]))
            let ofA = try await c.client.get("/api/v1/operations?resourceId=\(t.a.machineId!)", token: admin).decode(Page<ZedgeCore.Operation>.self)
            #expect(ofA.items.map(\.id) == [onA.operation.id])
            let running = try await c.client.get("/api/v1/operations?status=RUNNING", token: admin).decode(Page<ZedgeCore.Operation>.self)
            #expect(running.items.map(\.id) == [onA.operation.id])
            let queued = try await c.client.get("/api/v1/operations?status=QUEUED&kind=task.vm.stop", token: admin)
                .decode(Page<ZedgeCore.Operation>.self)
            #expect(queued.items.map(\.id) == [onB.operation.id])
            let badStatus = try await c.client.get("/api/v1/operations?status=NOPE", token: admin)
            #expect(badStatus.status == 400 && badStatus.text.contains("status"))

            // Its events, as the agent reported them, in order; filtered by kind.
            let events = try await c.client.get("/api/v1/operations/\(onA.operation.id)/events", token: admin).decode(Page<TaskEvent>.self)
            #expect(events.items.map(\.name) == ["defined", "booting", "started"])
            #expect(events.items.map(\.kind) == [.step, .info, .step])
            #expect(events.items.allSatisfy { $0.taskId == onA.task.id && $0.operationId == onA.operation.id })
            let steps = try await c.client.get("/api/v1/operations/\(onA.operation.id)/events?kind=STEP", token: admin).decode(Page<TaskEvent>.self)
            #expect(steps.items.map(\.name) == ["defined", "started"])
            #expect(try await c.client.get("/api/v1/operations/\(onB.operation.id)/events", token: admin).decode(Page<TaskEvent>.self).items.isEmpty)

            // Its tasks: state, attempts, lease and host, and no payload.
            let tasks = try await c.client.get("/api/v1/operations/\(onA.operation.id)/tasks", token: admin)
            #expect(tasks.status == 200)
            let taskItems = try #require(try tasks.json()["items"] as? [[String: Any]])
            #expect(taskItems.count == 1)
            #expect(taskItems.first?["id"] as? String == onA.task.id.uuidString)
            #expect(taskItems.first?["status"] as? String == "LEASED" && taskItems.first?["attempts"] as? Int == 1)
            #expect(taskItems.first?["computeMachineId"] as? String == t.a.machineId!.uuidString)
            #expect(taskItems.first?["leaseExpiresAt"] is String)
            #expect(taskItems.first?["payload"] == nil)

            // Every task, for ADMIN and OPERATOR, filtered by host or state; one by id.
            let onMachineB = try await c.client.get("/api/v1/tasks?computeMachineId=\(t.b.machineId!)", token: admin)
            let bItems = try #require(try onMachineB.json()["items"] as? [[String: Any]])
            #expect(bItems.map { $0["id"] as? String } == [onB.task.id.uuidString])
            #expect(bItems.allSatisfy { $0["payload"] == nil })
            let leasedTasks = try #require(try await c.client.get("/api/v1/tasks?status=LEASED", token: admin).json()["items"] as? [[String: Any]])
            #expect(leasedTasks.map { $0["id"] as? String } == [onA.task.id.uuidString])
            let one = try await c.client.get("/api/v1/tasks/\(onB.task.id)", token: admin)
            let oneJSON = try one.json()
            #expect(one.status == 200 && oneJSON["kind"] as? String == "vm.stop" && oneJSON["payload"] == nil)
            #expect(try await c.client.get("/api/v1/tasks/\(UUID())", token: admin).status == 404)
            let op = try await c.createUser("ops-\(UUID().uuidString.prefix(6).lowercased())", role: .operator, tenant: nil, token: admin)
            #expect(try await c.client.get("/api/v1/tasks?computeMachineId=\(t.a.machineId!)", token: op.token).status == 200)
            // An OPERATOR sees the infrastructure's operations (no tenant).
            let opList = try await c.client.get("/api/v1/operations", token: op.token).decode(Page<ZedgeCore.Operation>.self)
            #expect(Set(opList.items.map(\.id)).isSuperset(of: [onA.operation.id, onB.operation.id]))

            // A tenant's USER sees none of this: not in its list, 404 one by one, 403 for tasks.
            let tenant = try await c.createTenant("ops-\(UUID().uuidString.prefix(6).lowercased())", token: admin)
            let user = try await c.createUser("user-\(UUID().uuidString.prefix(6).lowercased())", role: .user, tenant: tenant.id, token: admin)
            let userList = try await c.client.get("/api/v1/operations", token: user.token).decode(Page<ZedgeCore.Operation>.self)
            #expect(!userList.items.contains { $0.id == onA.operation.id || $0.id == onB.operation.id })
            // Its own filter cannot widen the scope.
            let widened = try await c.client.get("/api/v1/operations?userId=\(try #require(onA.operation.userId))", token: user.token)
                .decode(Page<ZedgeCore.Operation>.self)
            #expect(widened.items.isEmpty)
            #expect(try await c.client.get("/api/v1/operations/\(onA.operation.id)/events", token: user.token).status == 404)
            #expect(try await c.client.get("/api/v1/operations/\(onA.operation.id)/tasks", token: user.token).status == 404)
            #expect(try await c.client.get("/api/v1/tasks", token: user.token).status == 403)
            #expect(try await c.client.get("/api/v1/tasks/\(onA.task.id)", token: user.token).status == 403)
            // A TENANT_ADMIN sees its tenant's only.
            let tenantAdmin = try await c.createUser("tadm-\(UUID().uuidString.prefix(6).lowercased())", role: .tenantAdmin, tenant: tenant.id, token: admin)
            let tenantList = try await c.client.get("/api/v1/operations", token: tenantAdmin.token).decode(Page<ZedgeCore.Operation>.self)
            #expect(!tenantList.items.contains { $0.id == onA.operation.id || $0.id == onB.operation.id })
            // (Their own operations in their lists: `aCancelledInstanceRequestIsWithdrawn`.)
        }
    }

    /// Cancel: a queued task is withdrawn (its agent never gets it), a running one is left to finish, a delete is
    /// kept, and a finished operation is a 409.
    @Test(arguments: TestEngine.all)
    func cancellingWithdrawsQueuedTasksOnlyAndAFinishedOperationIsAConflict(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let t = try await TaskDispatchTests.TwoAgents.make(c)
            let admin = t.f.admin
            func cancel(_ id: UUID, token: String? = nil) async throws -> APIResponse {
                try await c.client.post("/api/v1/operations/\(id)/actions/cancel", token: token ?? admin, [:])
            }

            // Queued: withdrawn; the operation is CANCELLED and the agent gets nothing.
            let queued = try await t.enqueue(on: t.b.machineId!, kind: .vmStop)
            let stranger = try await c.createUser("u-\(UUID().uuidString.prefix(6).lowercased())", role: .user,
                                                  tenant: try await c.createTenant("t-\(UUID().uuidString.prefix(6).lowercased())", token: admin).id,
                                                  token: admin)
            #expect(try await cancel(queued.operation.id, token: stranger.token).status == 404)
            let first = try await cancel(queued.operation.id)
            #expect(first.status == 200, "\(first.text)")
            let outcome = try first.decode(TaskQueue.Cancellation.self)
            #expect(outcome.cancelledSteps == ["vm.stop"] && outcome.runningSteps.isEmpty && outcome.keptSteps.isEmpty)
            #expect(outcome.operation.status == .cancelled && outcome.operation.endedAt != nil)
            #expect(outcome.operation.steps.map(\.status) == [.cancelled])
            let task = try await c.client.get("/api/v1/tasks/\(queued.task.id)", token: admin).json()
            #expect(task["status"] as? String == "CANCELLED" && (task["error"] as? String ?? "").contains("cancelled by admin"))
            #expect(try await t.poll(t.b, wait: 1).isEmpty)
            #expect(try await t.operation(queued.operation.id).status == .cancelled)
            let again = try await cancel(queued.operation.id)
            #expect(again.status == 409 && again.text.contains("CANCELLED"), "\(again.text)")

            // Running: left to finish; the operation ends as its task does.
            let running = try await t.enqueue(on: t.a.machineId!)
            #expect(try await t.poll(t.a, wait: 5).map(\.id) == [running.task.id])
            let whileRunning = try await cancel(running.operation.id)
            #expect(whileRunning.status == 200, "\(whileRunning.text)")
            let runningOutcome = try whileRunning.decode(TaskQueue.Cancellation.self)
            #expect(runningOutcome.cancelledSteps.isEmpty && runningOutcome.runningSteps == ["vm.start"])
            #expect(runningOutcome.operation.status == .running)
            let result = try await c.client.post("/agent/v1/tasks/\(running.task.id)/result", token: t.a.credential, ["outcome": "SUCCEEDED"])
            #expect(result.status == 204)
            #expect(try await t.operation(running.operation.id).status == .succeeded)
            // Finished: a conflict.
            let finished = try await cancel(running.operation.id)
            #expect(finished.status == 409 && finished.text.contains("SUCCEEDED"), "\(finished.text)")

            // A delete is kept: it still reaches its agent.
            let delete = try await t.enqueue(on: t.b.machineId!, kind: .vmDelete)
            let kept = try await cancel(delete.operation.id).decode(TaskQueue.Cancellation.self)
            #expect(kept.keptSteps == ["vm.delete"] && kept.cancelledSteps.isEmpty && kept.operation.status == .queued)
            #expect(try await t.poll(t.b, wait: 5).map(\.id) == [delete.task.id])
            #expect(try await cancel(UUID()).status == 404)

            // Counted, by kind.
            let metrics = try await c.client.get("/metrics", token: nil).text
            #expect(metrics.contains("zedge_task_cancels_total{kind=\"vm.stop\"} 1"))
        }
    }

    /// Cancelling an instance's request before its host took it withdraws the request: a stop leaves the instance
    /// RUNNING and wanting to run, a start leaves it STOPPED, a create leaves it in ERROR with its claim released.
    @Test(arguments: TestEngine.all)
    func aCancelledInstanceRequestIsWithdrawn(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.31.0.1", cpu: 16, memory: 64)
            let created = try await f.create("cancel-me")
            #expect(created.status == 202, "\(created.text)")
            let id = try created.decode(InstanceService.Accepted.self).instance.instance.id
            let create = try #require(try await f.lease(host.credential).first { $0.kind == .vmCreate })
            try await f.finish(create, credential: host.credential, state: .running)
            #expect(try await f.instance(id).instance.status == .running)
            func cancel(_ response: APIResponse) async throws -> TaskQueue.Cancellation {
                let operation = try response.decode(InstanceService.Accepted.self).operation
                let answer = try await c.client.post("/api/v1/operations/\(operation.id)/actions/cancel", token: f.user.token, [:])
                guard answer.status == 200 else { throw TestFailure("cancel: \(answer.status) \(answer.text)") }
                return try answer.decode(TaskQueue.Cancellation.self)
            }

            // A stop, cancelled: RUNNING, and still meant to run (the reconciler will not stop it).
            let stop = try await c.client.post("/api/v1/instances/\(id)/actions/stop", token: f.user.token, [:])
            #expect(stop.status == 202, "\(stop.text)")
            #expect(try await f.instance(id).instance.status == .stopping)
            #expect(try await cancel(stop).cancelledSteps == ["vm.stop"])
            var instance = try await f.instance(id).instance
            #expect(instance.status == .running && instance.desiredStatus == .running)
            #expect(try await f.lease(host.credential).isEmpty)

            // Stopped for real, then a start, cancelled: STOPPED, and meant to stay so.
            let stopAgain = try await c.client.post("/api/v1/instances/\(id)/actions/stop", token: f.user.token, [:])
            #expect(stopAgain.status == 202)
            let stopTask = try await f.lease(host.credential)
            try await f.finish(try #require(stopTask.first), credential: host.credential, state: .shutOff)
            let start = try await c.client.post("/api/v1/instances/\(id)/actions/start", token: f.user.token, [:])
            #expect(try await cancel(start).operation.status == .cancelled)
            instance = try await f.instance(id).instance
            #expect(instance.status == .stopped && instance.desiredStatus == .stopped)

            // The user lists its own operations, its tenant's admin those of the tenant, another tenant's admin none.
            let startId = try start.decode(InstanceService.Accepted.self).operation.id
            let own = try await c.client.get("/api/v1/operations?resourceId=\(id)", token: f.user.token).decode(Page<ZedgeCore.Operation>.self)
            #expect(own.items.contains { $0.id == startId } && own.items.allSatisfy { $0.userId == f.user.user.id })
            let tenantAdmin = try await c.createUser("ta-\(UUID().uuidString.prefix(6).lowercased())", role: .tenantAdmin, tenant: f.tenant.id, token: f.admin)
            let ofTenant = try await c.client.get("/api/v1/operations", token: tenantAdmin.token).decode(Page<ZedgeCore.Operation>.self)
            #expect(ofTenant.items.contains { $0.id == startId } && ofTenant.items.allSatisfy { $0.tenantId == f.tenant.id })
            let other = try await c.createUser("ob-\(UUID().uuidString.prefix(6).lowercased())", role: .tenantAdmin,
                                               tenant: try await c.createTenant("ob-\(UUID().uuidString.prefix(6).lowercased())", token: f.admin).id,
                                               token: f.admin)
            #expect(try await c.client.get("/api/v1/operations", token: other.token).decode(Page<ZedgeCore.Operation>.self).items.isEmpty)

            // A create, cancelled before its host took it: ERROR, off the machine, its claim released.
            let second = try await f.create("never-made")
            let secondId = try second.decode(InstanceService.Accepted.self).instance.instance.id
            let operationId = try second.decode(InstanceService.Accepted.self).operation.id
            let answer = try await c.client.post("/api/v1/operations/\(operationId)/actions/cancel", token: f.user.token, [:])
            #expect(answer.status == 200, "\(answer.text)")
            let withdrawn = try answer.decode(TaskQueue.Cancellation.self)
            #expect(withdrawn.cancelledSteps == ["vm.create"] && !withdrawn.doneSteps.isEmpty)
            #expect(withdrawn.operation.status == .cancelled)
            let never = try await f.instance(secondId).instance
            #expect(never.status == .error && never.computeMachineId == nil)
            #expect(try await f.lease(host.credential).isEmpty)
            let machine = try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self)
            #expect(machine.allocatedCpuCores == f.template.defaultCpuCores, "only the first instance holds a claim")
            #expect(try await f.consistency().ok)
        }
    }
}
