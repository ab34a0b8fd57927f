import Foundation
import Logging
import SQLKit
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Quota usage as counters (`quota_usages`, SchemaV8, issue #14): the triggers keep each user's and tenant's row
/// equal to a recount through every change the quota counts (claims taken and released, instances created,
/// DELETED and moved to another owner or deleted outright with their claims, disks created, resized, deleted),
/// whichever code makes it; the quota check reads them; the migration's backfill gives the same rows.
@Suite("Quota usage counters")
struct QuotaUsageTests {
    @Test(arguments: TestEngine.all)
    func countersFollowEveryChangeTheQuotaCounts(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            _ = try await f.addMachine(ip: "10.40.0.1", cpu: 16, memory: 64)
            var created: [UUID] = []
            for name in ["a", "b", "c"] {
                let response = try await f.create(name, token: f.user.token)
                #expect(response.status == 202, "\(response.text)")
                created.append(try response.decode(InstanceService.Accepted.self).instance.instance.id)
            }
            let instances = created
            #expect(try await f.consistency().ok)
            let other = try await c.createUser("other-\(UUID().uuidString.prefix(6).lowercased())", role: .user, tenant: f.tenant.id, token: f.admin)

            try await Database.withDatabase(url: c.configuration.effectiveDatabaseURL, logger: Logger(label: "test")) { database in
                let quotas = SQLQuotaRepository(database: database)
                func usage(_ owner: QuotaOwner) async throws -> ResourceUsage {
                    try await database.transaction { tx in try await quotas.usage(of: owner, in: tx) }
                }
                func expectExact(_ step: String) async throws {
                    let mismatches = try await database.transaction { tx in try await ConsistencyCheck.quotaUsageMismatches(on: tx.db) }
                    #expect(mismatches.isEmpty, "\(step): \(mismatches)")
                }
                func run(_ query: SQLQueryString) async throws { try await database.sql.raw(query).run() }

                // Three creates of 2 cores and 4 GiB each, by the user in the tenant.
                let storage = try await usage(.user(f.user.user.id)).storageGb
                #expect(try await usage(.user(f.user.user.id)) == ResourceUsage(cpuCores: 6, memoryGb: 12, storageGb: storage, instances: 3))
                #expect(try await usage(.tenant(f.tenant.id)) == ResourceUsage(cpuCores: 6, memoryGb: 12, storageGb: storage, instances: 3))
                #expect(storage > 0)
                try await expectExact("after the creates")

                // An instance DELETED still holds its claim until it is released.
                try await run("UPDATE instances SET status = 'DELETED' WHERE id = \(bind: instances[0])")
                #expect(try await usage(.user(f.user.user.id)).instances == 2)
                #expect(try await usage(.user(f.user.user.id)).cpuCores == 6)
                try await run("UPDATE capacity_claims SET released_at = \(bind: Date()) WHERE instance_id = \(bind: instances[0])")
                #expect(try await usage(.user(f.user.user.id)).cpuCores == 4)
                // A status change between live states moves nothing.
                try await run("UPDATE instances SET status = 'RUNNING' WHERE id = \(bind: instances[1])")
                #expect(try await usage(.tenant(f.tenant.id)) == ResourceUsage(cpuCores: 4, memoryGb: 8, storageGb: storage / 3 * 2, instances: 2))
                try await expectExact("after a delete and a release")

                // An instance given to another user takes its claim and its count along; the tenant's stay.
                try await run("UPDATE instances SET user_id = \(bind: other.user.id) WHERE id = \(bind: instances[1])")
                #expect(try await usage(.user(other.user.id)) == ResourceUsage(cpuCores: 2, memoryGb: 4, storageGb: storage / 3, instances: 1))
                #expect(try await usage(.user(f.user.user.id)) == ResourceUsage(cpuCores: 2, memoryGb: 4, storageGb: storage / 3, instances: 1))
                #expect(try await usage(.tenant(f.tenant.id)).cpuCores == 4)
                try await expectExact("after a change of owner")

                // A group counts its members.
                let group = UUID()
                try await run("""
                    INSERT INTO user_groups (id, name, tenant_id, created_at, updated_at)
                    VALUES (\(bind: group), 'team', \(bind: f.tenant.id), \(bind: Date()), \(bind: Date()))
                    """)
                for member in [f.user.user.id, other.user.id] {
                    try await run("""
                        INSERT INTO user_group_members (id, group_id, user_id, joined_at)
                        VALUES (\(bind: UUID()), \(bind: group), \(bind: member), \(bind: Date()))
                        """)
                }
                #expect(try await usage(.group(group)).cpuCores == 4)
                #expect(try await usage(.group(group)).instances == 2)

                // Private data disks: created, resized, deleted.
                let disk = UUID()
                try await run("""
                    INSERT INTO private_data_disks (id, name, tenant_id, user_id, size_gb, disk_type, status, share_mode,
                                                    max_attachments, rbd_image_name, rbd_pool, created_at, updated_at)
                    VALUES (\(bind: disk), 'data', \(bind: f.tenant.id), \(bind: f.user.user.id), 10, 'SSD', 'AVAILABLE',
                            'EXCLUSIVE', 1, \(bind: "zedge-disk-\(disk)"), 'private-data-disks', \(bind: Date()), \(bind: Date()))
                    """)
                #expect(try await usage(.user(f.user.user.id)).disks == 1)
                #expect(try await usage(.user(f.user.user.id)).storageGb == storage / 3 + 10)
                try await run("UPDATE private_data_disks SET size_gb = 25 WHERE id = \(bind: disk)")
                #expect(try await usage(.tenant(f.tenant.id)).storageGb == storage / 3 * 2 + 25)
                try await expectExact("with a disk")
                try await run("DELETE FROM private_data_disks WHERE id = \(bind: disk)")
                #expect(try await usage(.user(f.user.user.id)).disks == 0)
                #expect(try await usage(.user(f.user.user.id)).storageGb == storage / 3)

                // An instance deleted outright takes its claims with it (they cascade away after it).
                try await run("DELETE FROM virtual_machines WHERE instance_id = \(bind: instances[2])")
                try await run("DELETE FROM instances WHERE id = \(bind: instances[2])")
                #expect(try await usage(.user(f.user.user.id)) == ResourceUsage())
                #expect(try await usage(.tenant(f.tenant.id)) == ResourceUsage(cpuCores: 2, memoryGb: 4, storageGb: storage / 3, instances: 1))
                try await expectExact("after a hard delete")

                // The migration's backfill gives the rows the triggers kept.
                let kept = try await database.sql.raw("SELECT * FROM quota_usages WHERE owner_id IN (\(bind: f.user.user.id), \(bind: other.user.id), \(bind: f.tenant.id))").all().count
                try await run("DELETE FROM quota_usages")
                #expect(try await usage(.tenant(f.tenant.id)) == ResourceUsage())
                try await database.sql.raw(SQLQueryString(SchemaV8.backfill)).run()
                #expect(try await usage(.tenant(f.tenant.id)) == ResourceUsage(cpuCores: 2, memoryGb: 4, storageGb: storage / 3, instances: 1))
                #expect(try await usage(.user(other.user.id)) == ResourceUsage(cpuCores: 2, memoryGb: 4, storageGb: storage / 3, instances: 1))
                #expect(kept == 3)
                try await expectExact("after the backfill")

                // A counter that drifted is named, with both numbers.
                try await run("UPDATE quota_usages SET cpu_cores = cpu_cores + 1 WHERE owner_type = 'TENANT' AND owner_id = \(bind: f.tenant.id)")
                let drifted = try await database.transaction { tx in try await ConsistencyCheck.quotaUsageMismatches(on: tx.db) }
                #expect(drifted.map(\.resourceId) == [f.tenant.id])
                #expect(drifted.first?.detail == "tenant quota usage: cpu_cores is 3, the recount is 2", "\(drifted)")
                try await run("UPDATE quota_usages SET cpu_cores = cpu_cores - 1 WHERE owner_type = 'TENANT' AND owner_id = \(bind: f.tenant.id)")
            }
            // The admin's check names no quota violation either (the machine's allocation is off now: the claim was
            // released by hand above, not through a delete).
            let report = try await f.consistency()
            #expect(!report.violations.contains { $0.kind == "QUOTA_USAGE" }, "\(report.violations)")
        }
    }
}
