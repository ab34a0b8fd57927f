import Foundation
import Logging
import SQLKit
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// An `InstanceFixture` with a STORAGE pool in its data center and one machine whose agent the test plays.
struct DiskWorld {
    let f: InstanceFixture
    let storagePool: ResourcePool
    let host: (id: UUID, credential: String)
    /// A cephx key as `ceph auth get-key` prints it (28 bytes, base64).
    let key: String

    var c: TestCoordinator { f.c }

    static func make(_ c: TestCoordinator, ip: String = "10.91.0.1") async throws -> DiskWorld {
        let f = try await InstanceFixture.make(c)
        let host = try await f.addMachine(ip: ip)
        let key = Data((0..<28).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let created = try await c.client.post("/api/v1/resource-pools", token: f.admin, [
            "name": "ceph", "edgeDataCenterId": f.dataCenter.id.uuidString, "poolType": "STORAGE",
            "storageConfig": ["monitors": ["127.0.0.1:6789"], "cephUser": "zedge"], "cephKey": key,
        ])
        guard created.status == 201 else { throw TestFailure("storage pool: \(created.status) \(created.text)") }
        return DiskWorld(f: f, storagePool: try created.decode(ResourcePool.self), host: host, key: key)
    }

    func createDisk(_ name: String, sizeGb: Int = 1, token: String? = nil, extra: [String: Any] = [:]) async throws -> APIResponse {
        var body: [String: Any] = ["name": name, "sizeGb": sizeGb]
        for (k, v) in extra { body[k] = v }
        return try await c.client.post("/api/v1/private-data-disks", token: token ?? f.user.token, body)
    }

    func disk(_ id: UUID) async throws -> PrivateDataDisk {
        try await c.client.get("/api/v1/private-data-disks/\(id)", token: f.admin).decode(PrivateDataDisk.self)
    }

    /// Leases the host's tasks and reports each as `outcome`; returns them.
    @discardableResult
    func complete(_ host: (id: UUID, credential: String)? = nil, outcome: TaskOutcome = .succeeded, error: String? = nil)
        async throws -> [TaskAssignment]
    {
        let host = host ?? self.host
        let tasks = try await f.lease(host.credential)
        for task in tasks { try await f.finish(task, credential: host.credential, outcome: outcome, error: error) }
        return tasks
    }

    /// An AVAILABLE disk.
    func availableDisk(_ name: String, extra: [String: Any] = [:]) async throws -> PrivateDataDisk {
        let created = try await createDisk(name, extra: extra)
        guard created.status == 202 else { throw TestFailure("disk: \(created.status) \(created.text)") }
        let disk = try created.decode(DiskService.Accepted.self).disk
        try await complete()
        return try await self.disk(disk.id)
    }

    func attach(_ disk: UUID, to instance: UUID, mode: String = "RW", token: String? = nil) async throws -> APIResponse {
        try await c.client.post("/api/v1/private-data-disks/\(disk)/attachments", token: token ?? f.user.token, [
            "instanceId": instance.uuidString, "mountPath": "/data", "mountMode": mode,
        ])
    }
}

@Suite("Private data disks: API, rules and secrets")
struct DiskTests {
    @Test(arguments: TestEngine.all)
    func storagePoolKeepsItsCephKeyApartAndOnlyTheLeasingAgentGetsIt(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let w = try await DiskWorld.make(c)
            let admin = w.f.admin
            // A STORAGE pool needs its cluster and its key; other pools take neither.
            let base: [String: Any] = ["name": "x", "edgeDataCenterId": w.f.dataCenter.id.uuidString, "poolType": "STORAGE"]
            let noKey = try await c.client.post("/api/v1/resource-pools", token: admin,
                                                base.merging(["storageConfig": ["monitors": ["10.0.0.1"], "cephUser": "u"]]) { $1 })
            #expect(noKey.status == 422 && noKey.problemFields == ["cephKey"], "\(noKey.text)")
            let badKey = try await c.client.post("/api/v1/resource-pools", token: admin, base.merging([
                "storageConfig": ["monitors": ["10.0.0.1:notaport"], "cephUser": "u"], "cephKey": "not base64!",
            ]) { $1 })
            // A key that is not base64 breaks the field's documented rule (400, before anything else is looked at); a
            // monitor that is no address is the cluster's own rule (422).
            #expect(badKey.status == 400 && badKey.problemFields == ["cephKey"], "\(badKey.text)")
            let badMonitor = try await c.client.post("/api/v1/resource-pools", token: admin, base.merging([
                "storageConfig": ["monitors": ["10.0.0.1:notaport"], "cephUser": "u"], "cephKey": w.key,
            ]) { $1 })
            #expect(badMonitor.status == 422 && badMonitor.problemFields == ["storageConfig.monitors[0]"], "\(badMonitor.text)")
            let prefixed = try await c.client.post("/api/v1/resource-pools", token: admin, base.merging([
                "storageConfig": ["monitors": ["10.0.0.1"], "cephUser": "client.zedge"], "cephKey": w.key,
            ]) { $1 })
            #expect(prefixed.status == 422 && prefixed.problemFields == ["storageConfig.cephUser"], "\(prefixed.text)")
            let nullKey = try await c.client.patch("/api/v1/resource-pools/\(w.storagePool.id)", token: admin, ["cephKey": NSNull()])
            #expect(nullKey.status == 400 && nullKey.problemFields == ["cephKey"], "\(nullKey.text)")
            let compute = try await c.client.post("/api/v1/resource-pools", token: admin, [
                "name": "y", "edgeDataCenterId": w.f.dataCenter.id.uuidString, "cephKey": w.key,
            ])
            #expect(compute.status == 422 && compute.problemFields == ["cephKey"], "\(compute.text)")
            #expect(w.storagePool.storageConfig == StorageConfig(monitors: ["127.0.0.1:6789"], rbdPool: "private-data-disks", cephUser: "zedge"))

            // An operator's direct task cannot carry a key (it would be stored with the task).
            let direct = try await c.client.post("/api/v1/compute-machines/\(w.host.id)/tasks", token: admin, [
                "kind": "disk.delete", "payload": ["cluster": ["storagePoolId": w.storagePool.id.uuidString, "cephKey": w.key], "image": "x"],
            ])
            #expect(direct.status == 422 && direct.problemFields == ["payload.cluster.cephKey"] && !direct.text.contains(w.key), "\(direct.text)")

            // Never returned.
            let responses = [
                try await c.client.get("/api/v1/resource-pools/\(w.storagePool.id)", token: admin).text,
                try await c.client.get("/api/v1/resource-pools?poolType=STORAGE", token: admin).text,
            ]
            for text in responses { #expect(!text.contains(w.key) && !text.contains("cephKey"), "\(text)") }

            // A disk's task is stored without the key; the agent that leases it gets the key.
            let accepted = try await w.createDisk("data")
            #expect(accepted.status == 202, "\(accepted.text)")
            #expect(!accepted.text.contains(w.key))
            let tasks = try await w.f.lease(w.host.credential)
            #expect(tasks.map(\.kind) == [.diskCreate])
            let payload = try tasks[0].payload.decode(as: DiskCreatePayload.self)
            #expect(payload.cluster.cephKey == w.key && payload.cluster.storagePoolId == w.storagePool.id)
            #expect(payload.image == "pdd-" + (try accepted.decode(DiskService.Accepted.self).disk.id.uuidString.lowercased()))
            for task in tasks { try await w.f.finish(task, credential: w.host.credential) }

            // A new key (PATCH) replaces the old one, and neither is in any other column of the database.
            let rotated = Data((0..<28).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let patched = try await c.client.patch("/api/v1/resource-pools/\(w.storagePool.id)", token: admin, ["cephKey": rotated])
            #expect(patched.status == 200 && !patched.text.contains(rotated), "\(patched.text)")
            _ = try await w.createDisk("data2")
            let second = try await w.f.lease(w.host.credential)
            #expect(try second.first?.payload.decode(as: DiskCreatePayload.self).cluster.cephKey == rotated)
            try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: .init(label: "t")) { db in
                for (table, column) in [("agent_tasks", "payload"), ("operations", "request"), ("audit_logs", "details"),
                                        ("resource_pools", "storage_config"), ("task_events", "metadata")] {
                    let texts = try await db.sql.raw("SELECT CAST(\(ident: column) AS TEXT) AS v FROM \(ident: table)").all()
                        .compactMap { try $0.decode(column: "v", as: String?.self) }
                    for text in texts {
                        #expect(!text.contains(w.key) && !text.contains(rotated), "\(table).\(column) holds a cephx key")
                    }
                }
                let stored = try await db.sql.raw("SELECT ceph_key FROM storage_pool_secrets").all()
                    .map { try $0.decode(column: "ceph_key", as: String.self) }
                #expect(stored == [rotated], "one key per pool, the newest")
                if engine == .sqlite {
                    // Every column of every other table, whatever its type.
                    let tables = try await db.sql.raw("SELECT name FROM sqlite_master WHERE type = 'table'").all()
                        .map { try $0.decode(column: "name", as: String.self) }.filter { $0 != "storage_pool_secrets" }
                    #expect(tables.contains("agent_tasks"))
                    for table in tables {
                        for row in try await db.sql.raw("SELECT * FROM \(ident: table)").all() {
                            for column in row.allColumns {
                                let value = (try? row.decode(column: column, as: String?.self)) ?? nil
                                #expect(value.map { !$0.contains(w.key) && !$0.contains(rotated) } ?? true, "\(table).\(column)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.all)
    func createResizeGrowsOnlyAndDelete(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let w = try await DiskWorld.make(c)
            // The image name is the coordinator's.
            let named = try await w.createDisk("mine", extra: ["rbdImageName": "evil"])
            #expect(named.status == 400 && named.problemFields == ["rbdImageName"], "\(named.text)")
            let exclusive = try await w.createDisk("x", extra: ["maxAttachments": 3])
            #expect(exclusive.status == 422 && exclusive.problemFields == ["maxAttachments"], "\(exclusive.text)")
            let huge = try await w.createDisk("x", sizeGb: 0)
            #expect(huge.status == 400 && huge.problemFields == ["sizeGb"])

            let accepted = try await w.createDisk("data", sizeGb: 1).decode(DiskService.Accepted.self)
            #expect(accepted.disk.status == .creating && accepted.disk.storagePoolId == w.storagePool.id)
            #expect(accepted.disk.rbdImageName == PrivateDataDisk.imageName(for: accepted.disk.id) && accepted.disk.maxAttachments == 1)
            let created = try await w.complete()
            #expect(created.map(\.kind) == [.diskCreate])
            #expect(try await w.disk(accepted.disk.id).status == .available)

            // An agent's failure is ERROR with its reason.
            let failing = try await w.createDisk("bad").decode(DiskService.Accepted.self)
            try await w.complete(outcome: .failed, error: "rbd: pool is full")
            let failed = try await w.disk(failing.disk.id)
            #expect(failed.status == .error && failed.error?.contains("rbd: pool is full") == true, "\(failed)")

            // Resize grows only.
            let path = "/api/v1/private-data-disks/\(accepted.disk.id)"
            let shrink = try await c.client.patch(path, token: w.f.user.token, ["sizeGb": 0])
            #expect(shrink.status == 400)
            let grown = try await c.client.patch(path, token: w.f.user.token, ["sizeGb": 3])
            #expect(grown.status == 202, "\(grown.text)")
            #expect(try grown.decode(DiskService.Accepted.self).disk.sizeGb == 3)
            let busy = try await c.client.patch(path, token: w.f.user.token, ["sizeGb": 4])
            #expect(busy.status == 409 && busy.problemFields == ["sizeGb"], "one operation at a time: \(busy.text)")
            let resized = try await w.complete()
            #expect(try resized.map { try $0.payload.decode(as: DiskResizePayload.self) }.map { [$0.sizeGb, $0.vmUuids.count] } == [[3, 0]])
            let smaller = try await c.client.patch(path, token: w.f.user.token, ["sizeGb": 2])
            #expect(smaller.status == 409 && smaller.problemFields == ["sizeGb"] && smaller.text.contains("lose data"), "\(smaller.text)")
            let renamed = try await c.client.patch(path, token: w.f.user.token, ["name": "renamed"])
            #expect(try renamed.status == 200 && (renamed.decode(PrivateDataDisk.self)).name == "renamed")

            // A failed resize puts the size back, with the reason.
            _ = try await c.client.patch(path, token: w.f.user.token, ["sizeGb": 5])
            try await w.complete(outcome: .failed, error: "no space")
            let after = try await w.disk(accepted.disk.id)
            #expect(after.sizeGb == 3 && after.error?.contains("no space") == true, "\(after)")

            // Delete: DELETING → gone.
            let deleting = try await c.client.delete(path, token: w.f.user.token)
            #expect(try deleting.status == 202 && (deleting.decode(DiskService.Accepted.self)).disk.status == .deleting, "\(deleting.text)")
            #expect(try await w.complete().map(\.kind) == [.diskDelete])
            #expect(try await c.client.get(path, token: w.f.user.token).status == 404)
            #expect(try await w.f.consistency().ok)
        }
    }

    @Test(arguments: TestEngine.all)
    func attachDetachAndInstanceDeleteKeepTheDisk(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let w = try await DiskWorld.make(c)
            let vm1 = try await w.f.running("one", on: w.host)
            let vm2 = try await w.f.running("two", on: w.host)
            let disk = try await w.availableDisk("data")

            let accepted = try await w.attach(disk.id, to: vm1.id)
            #expect(accepted.status == 202, "\(accepted.text)")
            let attachment = try accepted.decode(DiskAttachments.Accepted.self).attachment
            #expect(attachment.status == .attaching && attachment.mountMode == .rw && attachment.mountPath == "/data")
            let twice = try await w.attach(disk.id, to: vm1.id)
            #expect(twice.status == 409 && twice.problemFields == ["instanceId"], "UNIQUE(instanceId, diskId): \(twice.text)")
            let tasks = try await w.complete()
            #expect(tasks.map(\.kind) == [.diskAttach])
            let payload = try tasks[0].payload.decode(as: DiskAttachPayload.self)
            #expect(!payload.readOnly && !payload.shareable && payload.serial == disk.serial && payload.image == disk.rbdImageName)
            #expect(payload.cluster.cephKey == w.key)
            #expect(try await w.disk(disk.id).status == .attached)
            let listed = try await c.client.get("/api/v1/instances/\(vm1.id)/disk-attachments", token: w.f.user.token)
                .decode([InstancePrivateDataDiskAttachment].self)
            #expect(listed.map(\.status) == [.attached] && listed.map(\.diskId) == [disk.id])

            // EXCLUSIVE: one attachment. Deleting an attached disk names its instance.
            let second = try await w.attach(disk.id, to: vm2.id)
            #expect(second.status == 409 && second.text.contains("one"), "\(second.text)")
            let refused = try await c.client.delete("/api/v1/private-data-disks/\(disk.id)", token: w.f.user.token)
            #expect(refused.status == 409 && refused.text.contains("one") && refused.text.contains(vm1.id.uuidString.lowercased()), "\(refused.text)")

            // Detach → gone, AVAILABLE; then RO.
            let detach = try await c.client.delete("/api/v1/private-data-disks/\(disk.id)/attachments/\(attachment.id)", token: w.f.user.token)
            #expect(try detach.status == 202 && (detach.decode(DiskAttachments.Accepted.self)).attachment.status == .detaching, "\(detach.text)")
            #expect(try await w.complete().map(\.kind) == [.diskDetach])
            #expect(try await w.disk(disk.id).status == .available)
            let ro = try await w.attach(disk.id, to: vm2.id, mode: "RO")
            #expect(ro.status == 202, "\(ro.text)")
            let roTask = try await w.complete()
            #expect(try roTask.first?.payload.decode(as: DiskAttachPayload.self).readOnly == true)

            // Deleting the instance keeps the disk, AVAILABLE.
            #expect(try await c.client.delete("/api/v1/instances/\(vm2.id)", token: w.f.user.token).status == 202)
            #expect(try await w.complete().map(\.kind) == [.vmDelete])
            #expect(try await w.disk(disk.id).status == .available)
            #expect(try await c.client.get("/api/v1/private-data-disks/\(disk.id)/attachments", token: w.f.user.token)
                .decode([InstancePrivateDataDiskAttachment].self).isEmpty)

            // A failed attach is FAILED with the reason, and the disk stays AVAILABLE.
            let failing = try await w.attach(disk.id, to: vm1.id)
            let failedId = try failing.decode(DiskAttachments.Accepted.self).attachment.id
            try await w.complete(outcome: .failed, error: "blockdev-add: connection timed out")
            let failed = try await c.client.get("/api/v1/private-data-disks/\(disk.id)/attachments/\(failedId)", token: w.f.user.token)
                .decode(InstancePrivateDataDiskAttachment.self)
            #expect(failed.status == .failed && failed.error?.contains("timed out") == true)
            #expect(try await w.disk(disk.id).status == .available)
            #expect(try await w.f.consistency().ok)
        }
    }

    @Test(arguments: TestEngine.all)
    func aDiskAttachesOnlyInItsOwnDataCenter(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let w = try await DiskWorld.make(c)
            let disk = try await w.availableDisk("data")
            // A second data center with its own machine, and an instance of the same tenant there.
            let center = try await c.client.post("/api/v1/edge-data-centers", token: w.f.admin, ["name": "far-edge"]).decode(EdgeDataCenter.self)
            let farPool = try await c.client.post("/api/v1/resource-pools", token: w.f.admin, [
                "name": "far", "edgeDataCenterId": center.id.uuidString,
            ]).decode(ResourcePool.self)
            let other = InstanceFixture(c: c, admin: w.f.admin, dataCenter: center, pool: farPool, tenant: w.f.tenant, user: w.f.user,
                                        template: w.f.template)
            let otherHost = try await other.addMachine(ip: "10.92.0.1")
            let accepted = try await other.create("far", token: w.f.user.token, extra: ["resourcePoolId": other.pool.id.uuidString])
            #expect(accepted.status == 202, "\(accepted.text)")
            let far = try accepted.decode(InstanceService.Accepted.self).instance.instance
            for task in try await other.lease(otherHost.credential) { try await other.finish(task, credential: otherHost.credential, state: .running) }
            let refused = try await w.attach(disk.id, to: far.id)
            #expect(refused.status == 409 && refused.problemFields == ["instanceId"] && refused.text.contains("own data center"), "\(refused.text)")
            // Another tenant's instance is not there at all.
            let stranger = try await w.attach(disk.id, to: UUID())
            #expect(stranger.status == 422 && stranger.problemFields == ["instanceId"])
        }
    }

    @Test(arguments: TestEngine.all)
    func concurrentAttachesNeverPassMaxAttachments(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let w = try await DiskWorld.make(c)
            var instances: [UUID] = []
            for i in 0..<5 { instances.append(try await w.f.running("vm\(i)", on: w.host).id) }
            for (mode, limit) in [("SHARED", 2), ("EXCLUSIVE", 1)] {
                let disk = try await w.availableDisk("d-\(mode.lowercased())",
                                                     extra: mode == "SHARED" ? ["shareMode": "SHARED", "maxAttachments": 2] : [:])
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for id in instances { group.addTask { try await w.attach(disk.id, to: id).status } }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == 202 }.count == limit, "\(mode): \(statuses)")
                #expect(statuses.filter { $0 == 409 }.count == 5 - limit, "\(mode): \(statuses)")
                let tasks = try await w.complete()
                #expect(tasks.count == limit)
                #expect(try tasks.allSatisfy { try $0.payload.decode(as: DiskAttachPayload.self).shareable == (mode == "SHARED") })
                let attachments = try await c.client.get("/api/v1/private-data-disks/\(disk.id)/attachments", token: w.f.admin)
                    .decode([InstancePrivateDataDiskAttachment].self)
                #expect(attachments.count == limit && attachments.allSatisfy { $0.status == .attached })
                let consistency = try await w.f.consistency()
                #expect(consistency.ok, "\(consistency.violations)")
            }
            // The check itself sees a disk whose status lies about its attachments.
            let lonely = try await w.availableDisk("lonely")
            try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: .init(label: "t")) { db in
                try await db.sql.raw("UPDATE private_data_disks SET status = 'ATTACHED' WHERE id = \(bind: lonely.id)").run()
            }
            let report = try await w.f.consistency()
            #expect(report.violations.map(\.kind) == ["DISK_STATUS"] && report.violations.map(\.resourceId) == [lonely.id], "\(report)")
        }
    }

    @Test(arguments: TestEngine.all)
    func diskQuotasAtEachLevel(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let w = try await DiskWorld.make(c)
            let admin = w.f.admin
            // User: one disk.
            _ = try await c.client.patch("/api/v1/users/\(w.f.user.user.id)", token: admin, ["quotaConfig": ["disks": 1]])
            #expect(try await w.createDisk("u1").status == 202)
            let user = try await w.createDisk("u2")
            #expect(user.status == 409 && user.problemFields == ["quota.user.disks"], "\(user.text)")
            // Group: 10 GiB of storage between its members, instances' and disks' together.
            let other = try await c.createUser("o-\(UUID().uuidString.prefix(5).lowercased())", role: .user, tenant: w.f.tenant.id, token: admin)
            let group = try await c.client.post("/api/v1/user-groups", token: admin, [
                "name": "team", "tenantId": w.f.tenant.id.uuidString, "quotaConfig": ["storageGb": 10],
            ]).decode(UserGroup.self)
            for member in [w.f.user.user.id, other.user.id] {
                #expect(try await c.client.post("/api/v1/user-groups/\(group.id)/members", token: admin, ["userId": member.uuidString]).status == 201)
            }
            #expect(try await w.createDisk("g1", sizeGb: 8, token: other.token).status == 202)
            let grouped = try await w.createDisk("g2", sizeGb: 2, token: other.token)
            #expect(grouped.status == 409 && grouped.problemFields == ["quota.group.storageGb"], "\(grouped.text)")
            #expect(grouped.text.contains("group 'team'"))
            // Growing counts too.
            try await w.complete()
            let disks = try await c.client.get("/api/v1/private-data-disks?name=g1", token: admin).decode(Page<PrivateDataDisk>.self)
            let grow = try await c.client.patch("/api/v1/private-data-disks/\(try #require(disks.items.first).id)", token: other.token, ["sizeGb": 10])
            #expect(grow.status == 409 && grow.problemFields == ["quota.group.storageGb"], "\(grow.text)")
            // Tenant: two disks in all.
            _ = try await c.client.patch("/api/v1/tenants/\(w.f.tenant.id)", token: admin, ["quotaConfig": ["disks": 2]])
            let third = try await c.createUser("t-\(UUID().uuidString.prefix(5).lowercased())", role: .user, tenant: w.f.tenant.id, token: admin)
            let tenant = try await w.createDisk("t1", token: third.token)
            #expect(tenant.status == 409 && tenant.problemFields == ["quota.tenant.disks"], "\(tenant.text)")
        }
    }

    @Test(arguments: TestEngine.all)
    func reconcilerRepairsDiskDriftAndRebuiltDomainsGetTheirDisks(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: {
            InstanceFixture.patient(&$0)
            $0.reconcileIntervalSeconds = 1
        }) { c in
            let w = try await DiskWorld.make(c)
            let created = try await w.f.create("drifty").decode(InstanceService.Accepted.self).instance.instance
            let create = try await w.f.lease(w.host.credential)
            let spec = try create[0].payload.decode(as: VmCreatePayload.self).spec
            try await w.f.finish(create[0], credential: w.host.credential, state: .running)
            let disk = try await w.availableDisk("data")
            let stray = try await w.availableDisk("stray")
            let attachment = try await w.attach(disk.id, to: created.id).decode(DiskAttachments.Accepted.self).attachment
            try await w.complete()
            let observedDisk = ObservedDisk(rbdPool: disk.rbdPool, image: disk.rbdImageName, target: "vdb")
            func beat(_ disks: [ObservedDisk]?, present: Bool = true) async throws {
                try await Task.sleep(for: .milliseconds(1100))  // newer than the attachment's last change
                try await w.f.heartbeat(w.host.credential, observed: present
                    ? [ObservedVm(vmUuid: spec.uuid.uuidString, vmName: spec.name, state: .running, disks: disks)] : [])
            }
            func repairs() async throws -> [TaskAssignment] {
                var tasks: [TaskAssignment] = []
                try await eventually("the reconciler sends a repair") {
                    tasks = try await w.f.lease(w.host.credential)
                    return !tasks.isEmpty
                }
                return tasks
            }

            // An agent that does not report disks (nil) is left alone; one that reports them all is in step.
            try await beat(nil)
            try await beat([observedDisk])
            try await Task.sleep(for: .seconds(2))
            #expect(try await w.f.lease(w.host.credential).isEmpty, "nothing to repair")

            // The domain lost the disk: disk.attach again (ATTACHING), then ATTACHED.
            try await beat([])
            let reattach = try await repairs()
            #expect(reattach.map(\.kind) == [.diskAttach])
            let payload = try reattach[0].payload.decode(as: DiskAttachPayload.self)
            #expect(payload.vmUuid == spec.uuid && payload.image == disk.rbdImageName && payload.cluster.cephKey == w.key)
            let path = "/api/v1/private-data-disks/\(disk.id)/attachments/\(attachment.id)"
            #expect(try await c.client.get(path, token: w.f.admin).decode(InstancePrivateDataDiskAttachment.self).status == .attaching)
            try await w.f.finish(reattach[0], credential: w.host.credential)
            #expect(try await c.client.get(path, token: w.f.admin).decode(InstancePrivateDataDiskAttachment.self).status == .attached)

            // A Zedge disk in the domain that no attachment explains is detached.
            try await beat([observedDisk, ObservedDisk(rbdPool: stray.rbdPool, image: stray.rbdImageName, target: "vdc")])
            let detach = try await repairs()
            #expect(detach.map(\.kind) == [.diskDetach])
            let detachPayload = try detach[0].payload.decode(as: DiskDetachPayload.self)
            #expect(detachPayload.image == stray.rbdImageName && detachPayload.vmUuid == spec.uuid)
            try await w.f.finish(detach[0], credential: w.host.credential)
            #expect(try await w.disk(stray.id).status == .available)

            // The domain is gone: it is defined again with its data disk, and the agent gets the cluster's key.
            try await beat([observedDisk], present: false)
            let recreate = try await repairs()
            #expect(recreate.map(\.kind) == [.vmCreate])
            let again = try recreate[0].payload.decode(as: VmCreatePayload.self)
            #expect(again.spec.uuid == spec.uuid)
            #expect(again.spec.dataDisks.map(\.serial) == [disk.serial] && again.spec.dataDisks.map(\.target) == ["vdb"])
            if case .rbd(let pool, let image, let monitors, let user, let secret) = again.spec.dataDisks.first?.source {
                #expect(pool == disk.rbdPool && image == disk.rbdImageName && monitors == ["127.0.0.1:6789"] && user == "zedge")
                #expect(secret == w.storagePool.id.uuidString.lowercased())
            } else {
                Issue.record("the data disk is not an RBD disk: \(again.spec.dataDisks)")
            }
            #expect(again.rbdClusters.map(\.cephKey) == [w.key] && again.rbdClusters.map(\.storagePoolId) == [w.storagePool.id])
            try await w.f.finish(recreate[0], credential: w.host.credential, state: .running)

            // Evacuation rebuilds it on another machine of the data center with the same disk.
            let target = try await w.f.addMachine(ip: "10.91.0.2")
            let evacuate = try await c.client.post("/api/v1/compute-machines/\(w.host.id)/actions/evacuate", token: w.f.admin, [:])
            #expect(evacuate.status == 202, "\(evacuate.text)")
            let moved = try await w.f.lease(target.credential)
            #expect(moved.map(\.kind) == [.vmCreate])
            let rebuilt = try moved[0].payload.decode(as: VmCreatePayload.self)
            #expect(rebuilt.spec.dataDisks.map(\.serial) == [disk.serial] && rebuilt.rbdClusters.map(\.cephKey) == [w.key])
        }
    }
}
