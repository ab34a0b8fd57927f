import Foundation
import Logging
import NIOHTTP1
import SQLKit
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Issue #8, item 6: deleting an object that other objects still refer to answers 409 problem+json that
/// names what still refers to it and how many ("The edge data center still has 1 resource pool."), never a
/// 500, on both engines; once the children are gone the delete answers as it always did.
///
/// `everyDeleteRouteHasAFixture` reads the DELETE routes from the running coordinator's OpenAPI document
/// and fails for a route without a fixture below, so a new DELETE route cannot be forgotten. A fixture either
/// gives the route's object a child and checks the refusal and then the plain delete, or says why its
/// object can have no child and checks that the route still answers as documented.
@Suite("Deletes of objects that still have children", .serialized)
struct DeleteWithChildrenTests {
    @Test(arguments: TestEngine.all)
    func everyDeleteRouteHasAFixture(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let document = try await c.client.get("/api/v1/openapi.json", token: nil)
            #expect(document.status == 200)
            let paths = try #require(try document.json()["paths"] as? [String: [String: Any]])
            let served = Set(paths.compactMap { path, operations in operations["delete"] != nil ? APIRoute(.DELETE, path) : nil })
            // The document is read correctly (a parse that found nothing would make the check below vacuous).
            #expect(served.contains(APIRoute(.DELETE, "/api/v1/edge-data-centers/{id}")), "\(served)")
            let covered = DeleteFixture.all.map(\.route)
            #expect(Set(covered).count == covered.count, "one fixture per route")
            for route in served.subtracting(covered).sorted(by: { $0.description < $1.description }) {
                Issue.record("\(route) has no fixture in DeleteWithChildrenTests: give its object a child, or say why it can have none")
            }
            for route in Set(covered).subtracting(served).sorted(by: { $0.description < $1.description }) {
                Issue.record("DeleteWithChildrenTests has a fixture for \(route), which the coordinator does not serve")
            }
        }
    }

    @Test(arguments: TestEngine.all, DeleteFixture.all)
    func deleteRoute(engine: TestEngine, fixture: DeleteFixture) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            try await fixture.run(DeleteWorld(c: c, admin: try await c.adminToken()))
        }
    }

    /// The store below the routes: the counted refusal outside and inside a transaction, a child reached
    /// through a CASCADE, and the engine's own foreign-key failure (a child that arrives between the count
    /// and the delete) as a 409 on both engines.
    @Test(arguments: TestEngine.all)
    func theStoreCountsChildrenAndMapsTheEnginesFailures(engine: TestEngine) async throws {
        try await engine.withMigratedDatabase { database in
            let store = Store(database: database)
            let center = EdgeDataCenter(name: "dc")
            try await store.edgeDataCenters.insert(center)
            let pool = ResourcePool(name: "pool", edgeDataCenterId: center.id)
            try await store.resourcePools.insert(pool)

            let counted = "The edge data center still has 1 resource pool."
            await expectConflict(counted, fields: ["resourcePools.edgeDataCenterId"]) { _ = try await store.edgeDataCenters.delete(center.id) }
            await expectConflict(counted, fields: ["resourcePools.edgeDataCenterId"]) {
                try await database.transaction { tx in _ = try await Tables.edgeDataCenters.delete(center.id, on: tx.db) }
            }

            // The engine's own refusal, as when a child arrives after the count: a 409, never an unmapped error.
            do {
                try await database.sql.raw("DELETE FROM edge_data_centers WHERE id = \(bind: center.id)").run()
                Issue.record("the engine deleted a data center that a resource pool refers to")
            } catch {
                #expect(ConstraintViolation.isForeignKeyViolation(error), "\(String(reflecting: error))")
                let problem = try #require(ConstraintViolation.map(error, resource: "edge data center", operation: .delete) as? DomainError,
                                           "\(String(reflecting: error))")
                #expect(problem.kind == .conflict)
                #expect(problem.message == "The edge data center is still referenced by other objects; remove those first.")
            }
            // A write that refers to nothing stays a 400.
            do {
                try await store.resourcePools.insert(ResourcePool(name: "orphan", edgeDataCenterId: UUID()))
                Issue.record("the engine accepted a pool of a data center that does not exist")
            } catch let problem as DomainError {
                #expect(problem.kind == .invalid, "\(problem)")
            }

            // Deleting a VPC cascades to its subnets, which an IP address still uses: counted through the cascade.
            let tenant = Tenant(name: "t", status: .active)
            try await store.tenants.insert(tenant)
            let user = User(username: "u", email: "u@example.com", role: .user, status: .active, tenantId: tenant.id)
            try await store.users.insert(user, passwordHash: "x")
            let vpc = Vpc(name: "vpc", tenantId: tenant.id, userId: user.id, cidrBlock: "10.0.0.0/16")
            let subnet = Subnet(name: "subnet", vpcId: vpc.id, cidrBlock: "10.0.1.0/24")
            let address = IpAddress(ipAddress: "10.0.1.5", ipPoolId: pool.id, subnetId: subnet.id)
            let vpcs = Table<Vpc>("vpcs"), subnets = Table<Subnet>("subnets"), addresses = Table<IpAddress>("ip_addresses")
            try await vpcs.insert(vpc, on: database.sql)
            try await subnets.insert(subnet, on: database.sql)
            try await addresses.insert(address, on: database.sql)
            await expectConflict("The VPC still has 1 IP address.", fields: ["ipAddresses.subnetId"]) {
                _ = try await vpcs.delete(vpc.id, on: database.sql)
            }
            // The engine agrees that this address blocks the VPC's delete.
            await #expect(throws: (any Error).self) { try await database.sql.raw("DELETE FROM vpcs WHERE id = \(bind: vpc.id)").run() }
            #expect(try await addresses.delete(address.id, on: database.sql))
            #expect(try await vpcs.delete(vpc.id, on: database.sql))
            #expect(try await subnets.find(subnet.id, on: database.sql) == nil)

            // The user and the tenant: refused while referred to, then deleted.
            let template = Template(name: "tpl", defaultCpuCores: 1, defaultMemoryGb: 1, defaultStorageGb: 1, visibility: .private,
                                    ownerId: user.id, tenantId: tenant.id)
            try await store.templates.insert(template)
            await expectConflict("The user still has 1 template.", fields: ["templates.ownerId"]) { _ = try await store.users.delete(user.id) }
            await expectConflict("The tenant still has 1 user and 1 template.", fields: ["users.tenantId", "templates.tenantId"]) {
                _ = try await store.tenants.delete(tenant.id)
            }
            #expect(try await store.templates.delete(template.id))
            #expect(try await store.users.delete(user.id))
            #expect(try await store.tenants.delete(tenant.id))
            #expect(try await store.resourcePools.delete(pool.id))
            #expect(try await store.edgeDataCenters.delete(center.id))
            #expect(try await store.edgeDataCenters.delete(center.id) == false)
        }
    }
}

/// `body` throws the counted 409 problem.
func expectConflict(
    _ detail: String, fields: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("not refused; expected: \(detail)", sourceLocation: sourceLocation)
    } catch let problem as DomainError {
        #expect(problem.kind == .conflict, sourceLocation: sourceLocation)
        #expect(problem.message == detail, sourceLocation: sourceLocation)
        #expect(problem.errors.map(\.field) == fields, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a 409 problem (\(detail)), got \(String(reflecting: error))", sourceLocation: sourceLocation)
    }
}

// MARK: - The derived reference table (no database, no HTTP)

@Suite("Deletes of objects that still have children: the reference table")
struct DeleteWithChildrenReferenceTableTests {
    func direct(_ parent: String) -> [BlockingReference] { ReferenceCatalog.blocking(parent).filter(\.through.isEmpty) }

    @Test func restrictChildrenBlockAndCascadeOrSetNullChildrenDoNot() {
        // Exactly the RESTRICT children, in declaration order: CloudBoxes and VPCs (SET NULL) do not block.
        #expect(ReferenceCatalog.blocking("edge_data_centers").map(\.description)
                == ["resource_pools.edge_data_center_id", "compute_machines.edge_data_center_id", "enrollment_tokens.edge_data_center_id"])
        let pools = ReferenceCatalog.blocking("edge_data_centers").first { $0.table == "resource_pools" }
        #expect(pools?.columns == ["edge_data_center_id"] && pools?.resource == "resource pool"
                && pools?.field == "resourcePools.edgeDataCenterId")

        // A machine's tasks, credentials, samples and GPUs (CASCADE) go with it; instances, VMs and claims block.
        #expect(direct("compute_machines").map(\.table) == ["instances", "virtual_machines", "capacity_claims"])

        // A user's keys, refresh tokens and memberships (CASCADE) and audit rows (SET NULL) do not block.
        let userChildren = Set(direct("users").map(\.table))
        #expect(userChildren.isDisjoint(with: ["api_keys", "refresh_tokens", "user_group_members", "audit_logs", "operations", "tenants"]))
        #expect(userChildren.isSuperset(of: ["templates", "template_versions", "instances", "instance_sets", "vpcs"]))

        // Only CASCADE children: nothing blocks.
        #expect(ReferenceCatalog.blocking("instance_sets").isEmpty)
        #expect(ReferenceCatalog.blocking("api_keys").isEmpty)

        // A RESTRICT child of a CASCADE child blocks too.
        #expect(ReferenceCatalog.blocking("vpcs").map(\.description) == ["subnets.vpc_id CASCADE → ip_addresses.subnet_id"])
    }

    @Test func everyForeignKeyOfEveryMigrationIsInTheTable() {
        let keys = ReferenceCatalog.foreignKeys
        #expect(keys.count > 60, "\(keys.count)")
        #expect(keys.contains(ForeignKeyReference(table: "resource_pools", column: "edge_data_center_id", target: "edge_data_centers", onDelete: .restrict)))
        #expect(keys.contains(ForeignKeyReference(table: "capacity_claims", column: "resource_pool_id", target: "resource_pools", onDelete: .restrict)))
        for key in keys {
            let entry = direct(key.target).first { $0.table == key.table && $0.columns.contains(key.column) }
            #expect((entry != nil) == key.onDelete.blocksDelete, "\(key)")
        }
        // A foreign key written as raw SQL (not through `TableBuilder.ref`) would be missing from the table.
        // A migration that rebuilds a table on SQLite writes that table's keys again, exactly as declared.
        for engine in [DatabaseEngine.sqlite, .postgres] {
            let statements = Migrator.all.filter { !($0.rebuildsTables && engine == .sqlite) }.flatMap { $0.statements(engine) }
            for rebuilt in Migrator.all where rebuilt.rebuildsTables && engine == .sqlite {
                for statement in rebuilt.statements(engine) where statement.contains(" REFERENCES ") {
                    for key in keys where statement.contains("FOREIGN KEY (\(key.column)) REFERENCES") && statement.contains("_v\(rebuilt.version) (") {
                        #expect(statement.contains("FOREIGN KEY (\(key.column)) REFERENCES \(key.target)(id) ON DELETE \(key.onDelete.rawValue)")
                                || key.table != "vpcs", "\(key)")
                    }
                }
            }
            let written = statements.map { $0.components(separatedBy: " REFERENCES ").count - 1 }.reduce(0, +)
            #expect(written == keys.count, "\(engine): \(written) REFERENCES in the migrations, \(keys.count) declared")
            for key in keys {
                let clause = "FOREIGN KEY (\(key.column)) REFERENCES \(key.target)(id) ON DELETE \(key.onDelete.rawValue)"
                #expect(statements.contains { ($0.hasPrefix("CREATE TABLE \(key.table) (") || $0.hasPrefix("ALTER TABLE \(key.table) ADD")) && $0.contains(clause) },
                        "\(engine): \(key)")
            }
        }
    }

    @Test func everyTableHasOneResourceName() {
        let tables = Migrator.all.flatMap(\.declared.tables)
        #expect(tables.count == Set(tables).count)
        #expect(Set(tables) == Set(ResourceNames.singular.keys))
        #expect(Table<Tenant>("tenants").resource == "tenant")
        #expect(Table<CloudBox>("cloud_boxes").resource == "CloudBox")
        #expect(Table<UserGroup>("user_groups").resource == "user group")
    }

    @Test func countedNames() {
        #expect(ResourceNames.counted(1, "resource pool") == "1 resource pool")
        #expect(ResourceNames.counted(2, "resource pool") == "2 resource pools")
        #expect(ResourceNames.counted(0, "user") == "0 users")
        #expect(ResourceNames.plural("IP address") == "IP addresses")
        #expect(ResourceNames.plural("CloudBox") == "CloudBoxes")
        #expect(ResourceNames.plural("audit log entry") == "audit log entries")
        #expect(ResourceNames.plural("VPC") == "VPCs")
        #expect(ResourceNames.plural("group membership") == "group memberships")
    }

    @Test func theConflictNamesEveryKindAndHowMany() {
        let pools = ConstraintViolation.Referrers("resource pool", count: 2, field: "resourcePools.edgeDataCenterId")
        let machines = ConstraintViolation.Referrers("compute machine", count: 1, field: "computeMachines.edgeDataCenterId")
        let tokens = ConstraintViolation.Referrers("enrollment token", count: 3, field: "enrollmentTokens.edgeDataCenterId")
        let one = ConstraintViolation.stillReferenced(resource: "edge data center", by: [machines])
        #expect(one.kind == .conflict && one.message == "The edge data center still has 1 compute machine.")
        #expect(one.errors == [FieldError(field: "computeMachines.edgeDataCenterId", message: "1 compute machine refers to this edge data center")])
        let two = ConstraintViolation.stillReferenced(resource: "edge data center", by: [pools, machines])
        #expect(two.message == "The edge data center still has 2 resource pools and 1 compute machine.")
        #expect(two.errors.first?.message == "2 resource pools refer to this edge data center")
        let three = ConstraintViolation.stillReferenced(resource: "edge data center", by: [pools, machines, tokens])
        #expect(three.message == "The edge data center still has 2 resource pools, 1 compute machine and 3 enrollment tokens.")
        #expect(three.errors.map(\.field) == [pools.field, machines.field, tokens.field])
        let hinted = ConstraintViolation.stillReferenced(
            resource: "template", by: [.init("instance", count: 4, field: "instances.templateId")], hint: "deprecate it instead")
        #expect(hinted.message == "The template still has 4 instances; deprecate it instead.")
        let unknown = ConstraintViolation.stillReferenced(resource: "tenant", by: [])
        #expect(unknown.kind == .conflict && unknown.message == "The tenant is still referenced by other objects; remove those first.")
        #expect(unknown.errors.isEmpty)
        #expect(ConstraintViolation.foreignKey(resource: "tenant", operation: .delete).message == unknown.message)
    }
}

// MARK: - One fixture per DELETE route

/// What a DELETE route's object can have as a child, and the walk that checks the route.
struct DeleteFixture: Sendable, CustomTestStringConvertible {
    enum Children: Sendable {
        /// What the fixture gives the object, and why it blocks.
        case blocking(String)
        /// Why the route's object can have no child that blocks it.
        case none(because: String)
    }

    let route: APIRoute
    let children: Children
    let run: @Sendable (DeleteWorld) async throws -> Void

    init(_ template: String, _ children: Children, _ run: @escaping @Sendable (DeleteWorld) async throws -> Void) {
        route = APIRoute(.DELETE, template)
        self.children = children
        self.run = run
    }

    var testDescription: String { route.description }

    static let all: [DeleteFixture] = [
        edgeDataCenter, resourcePool, computeMachine, computeMachineCredential, cloudBoxCredential, enrollmentToken,
        tenant, user, userGroup, userGroupMember, apiKey, rolePermission, template, instance, instanceSet, instanceSetMember,
        image, imageVersion, imageTag, vpc, subnet, place, ipAddress, privateDataDisk, diskAttachment,
    ]

    static let privateDataDisk = DeleteFixture(
        "/api/v1/private-data-disks/{id}",
        .blocking("attachments (checked by the service, which names the instances; the delete is asynchronous: DELETING, then gone)")
    ) { w in
        let d = try await DiskWorld.make(w.c, ip: "10.93.0.1")
        let vm = try await d.f.running("holder", on: d.host)
        let disk = try await d.availableDisk("data")
        #expect(try await d.attach(disk.id, to: vm.id).status == 202)
        try await d.complete()
        let path = "/api/v1/private-data-disks/\(disk.id)"
        let refused = try await w.delete(path)
        #expect(refused.status == 409 && refused.text.contains("holder"), "\(refused.text)")
        #expect(try await w.c.client.delete("/api/v1/instances/\(vm.id)", token: d.f.user.token).status == 202)
        try await d.complete()
        #expect(try await w.delete(path).status == 202)
        try await d.complete()
        #expect(try await w.get(path).status == 404)
        // Its STORAGE pool is free to go once no disk refers to it.
        #expect(try await w.delete("/api/v1/resource-pools/\(d.storagePool.id)").status == 204)
    }

    static let diskAttachment = DeleteFixture(
        "/api/v1/private-data-disks/{id}/attachments/{attachmentId}",
        .none(because: "nothing refers to an attachment; DELETE detaches (DETACHING, then gone) and keeps the disk")
    ) { w in
        let d = try await DiskWorld.make(w.c, ip: "10.94.0.1")
        let vm = try await d.f.running("holder", on: d.host)
        let disk = try await d.availableDisk("data")
        let attachment = try await d.attach(disk.id, to: vm.id).decode(DiskAttachments.Accepted.self).attachment
        try await d.complete()
        let path = "/api/v1/private-data-disks/\(disk.id)/attachments/\(attachment.id)"
        #expect(try await w.delete(path).status == 202)
        try await d.complete()
        #expect(try await w.get(path).status == 404)
        #expect(try await d.disk(disk.id).status == .available)
    }

    /// A data center, and a VPC in it made by ADMIN for a fresh tenant.
    static func network(_ w: DeleteWorld) async throws -> (tenant: Tenant, vpc: Vpc) {
        let center = try await w.created(EdgeDataCenter.self, "/api/v1/edge-data-centers", ["name": w.unique("edge")])
        let tenant = try await w.c.createTenant(w.unique("t"), token: w.admin)
        let octet = Int.random(in: 1...250)
        let vpc = try await w.created(Vpc.self, "/api/v1/vpcs", [
            "name": "v", "tenantId": tenant.id.uuidString, "cidrBlock": "10.\(octet).0.0/16", "edgeDataCenterId": center.id.uuidString,
        ])
        return (tenant, vpc)
    }

    static let vpc = DeleteFixture(
        "/api/v1/vpcs/{id}", .blocking("subnets (checked by the service: the VPC is deleted by status, which no foreign key sees)")
    ) { w in
        let (_, vpc) = try await network(w)
        let path = "/api/v1/vpcs/\(vpc.id)"
        let prefix = vpc.cidrBlock.replacingOccurrences(of: ".0.0/16", with: "")
        let subnet = try await w.created(Subnet.self, "/api/v1/subnets", ["name": "s", "vpcId": vpc.id.uuidString, "cidrBlock": "\(prefix).1.0/24"])
        w.expectRefused(try await w.delete(path), "The VPC still has 1 subnet.", errors: [("subnets.vpcId", "1 subnet refers to this VPC")])
        #expect(try await w.delete("/api/v1/subnets/\(subnet.id)").status == 204)
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404, "a DELETED VPC is hidden")
        #expect(try await w.delete(path).status == 404, "a DELETED VPC is not deleted twice")
    }

    static let subnet = DeleteFixture(
        "/api/v1/subnets/{id}", .blocking("ALLOCATED or RESERVED IP addresses (FROZEN and AVAILABLE ones go with the subnet)")
    ) { w in
        let (_, vpc) = try await network(w)
        let prefix = vpc.cidrBlock.replacingOccurrences(of: ".0.0/16", with: "")
        let subnet = try await w.created(Subnet.self, "/api/v1/subnets", ["name": "s", "vpcId": vpc.id.uuidString, "cidrBlock": "\(prefix).1.0/24"])
        let path = "/api/v1/subnets/\(subnet.id)"
        let held = try await w.created(IpAddress.self, "/api/v1/ip-addresses", ["subnetId": subnet.id.uuidString])
        w.expectRefused(try await w.delete(path),
                        "The subnet still has 1 held IP address (1 ALLOCATED, 0 RESERVED): release them, or delete the instances that hold them, first.",
                        errors: [("ipAddresses.subnetId", "1 held IP address is in this subnet")])
        let frozen = try await w.c.client.delete("/api/v1/ip-addresses/\(held.id)", token: w.admin).decode(IpAddress.self)
        #expect(frozen.status == .frozen)
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get("/api/v1/ip-addresses/\(held.id)").status == 404, "the subnet's address history goes with it")
        #expect(try await w.get("/api/v1/resource-pools/\(try #require(subnet.ipPoolId))").status == 404, "its pool goes with it")
    }

    static let place = DeleteFixture(
        "/api/v1/places/{id}", .none(because: "nothing refers to a place; its subnet stays")
    ) { w in
        let (tenant, vpc) = try await network(w)
        let prefix = vpc.cidrBlock.replacingOccurrences(of: ".0.0/16", with: "")
        let subnet = try await w.created(Subnet.self, "/api/v1/subnets", ["name": "s", "vpcId": vpc.id.uuidString, "cidrBlock": "\(prefix).1.0/24"])
        let place = try await w.created(Place.self, "/api/v1/places", ["name": "shop", "tenantId": tenant.id.uuidString, "subnetId": subnet.id.uuidString])
        #expect(try await w.delete("/api/v1/places/\(place.id)").status == 204)
        #expect(try await w.get("/api/v1/subnets/\(subnet.id)").status == 200)
    }

    static let ipAddress = DeleteFixture(
        "/api/v1/ip-addresses/{id}", .none(because: "DELETE releases the address (FROZEN, the row kept); nothing refers to one")
    ) { w in
        let (_, vpc) = try await network(w)
        let prefix = vpc.cidrBlock.replacingOccurrences(of: ".0.0/16", with: "")
        let subnet = try await w.created(Subnet.self, "/api/v1/subnets", ["name": "s", "vpcId": vpc.id.uuidString, "cidrBlock": "\(prefix).1.0/24"])
        let held = try await w.created(IpAddress.self, "/api/v1/ip-addresses", ["subnetId": subnet.id.uuidString])
        let released = try await w.delete("/api/v1/ip-addresses/\(held.id)")
        #expect(released.status == 200, "\(released.text)")
        #expect(try released.decode(IpAddress.self).status == .frozen)
    }

    static let edgeDataCenter = DeleteFixture(
        "/api/v1/edge-data-centers/{id}", .blocking("resource pools (resource_pools.edge_data_center_id RESTRICT)")
    ) { w in
        let center = try await w.created(EdgeDataCenter.self, "/api/v1/edge-data-centers", ["name": w.unique("edge")])
        let path = "/api/v1/edge-data-centers/\(center.id)"
        let first = try await w.created(ResourcePool.self, "/api/v1/resource-pools", ["name": "p1", "edgeDataCenterId": center.id.uuidString])
        // A CloudBox refers to its data center with SET NULL: it does not keep the data center.
        let box = try await w.created(CloudBox.self, "/api/v1/cloud-boxes", [
            "serialNumber": w.unique("CB"), "edgeDataCenterId": center.id.uuidString,
        ])
        w.expectRefused(try await w.delete(path), "The edge data center still has 1 resource pool.",
                        errors: [("resourcePools.edgeDataCenterId", "1 resource pool refers to this edge data center")])
        let second = try await w.created(ResourcePool.self, "/api/v1/resource-pools", ["name": "p2", "edgeDataCenterId": center.id.uuidString])
        w.expectRefused(try await w.delete(path), "The edge data center still has 2 resource pools.",
                        errors: [("resourcePools.edgeDataCenterId", "2 resource pools refer to this edge data center")])
        #expect(try await w.get(path).status == 200, "a refused delete leaves the data center")

        for pool in [first, second] { #expect(try await w.delete("/api/v1/resource-pools/\(pool.id)").status == 204) }
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
        #expect(try await w.get("/api/v1/cloud-boxes/\(box.id)").decode(CloudBox.self).edgeDataCenterId == nil)
    }

    static let resourcePool = DeleteFixture(
        "/api/v1/resource-pools/{id}", .blocking("a compute machine (compute_machines.resource_pool_id RESTRICT)")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.81.0.1")
        let path = "/api/v1/resource-pools/\(f.pool.id)"
        w.expectRefused(try await w.delete(path), "The resource pool still has 1 compute machine.",
                        errors: [("computeMachines.resourcePoolId", "1 compute machine refers to this resource pool")])
        #expect(try await w.get(path).status == 200)

        #expect(try await w.c.client.patch("/api/v1/compute-machines/\(host.id)", token: w.admin, ["status": "DECOMMISSIONING"]).status == 200)
        #expect(try await w.delete("/api/v1/compute-machines/\(host.id)").status == 204)
        // The enrollment token that named the pool refers to it with SET NULL: it does not keep the pool.
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
    }

    static let computeMachine = DeleteFixture(
        "/api/v1/compute-machines/{id}",
        .blocking("an instance placed on it (the route's own rule: live instances; deleted ones are detached)")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.82.0.1")
        let instance = try await f.running("kept", on: host)
        let path = "/api/v1/compute-machines/\(host.id)"
        // As documented, only a DECOMMISSIONING machine is removed, and decommissioning waits for its instances.
        let active = try await w.delete(path)
        #expect(active.status == 409 && (try? active.json()["detail"] as? String) == "Only a DECOMMISSIONING machine can be removed; this one is ACTIVE.",
                "\(active.text)")
        #expect(try await w.c.client.patch(path, token: w.admin, ["status": "DECOMMISSIONING"]).status == 409)
        // A placement that raced the decommissioning leaves an instance on a DECOMMISSIONING machine (made here
        // in the database).
        try await w.sql { db in
            try await db.update("compute_machines").set("status", to: "DECOMMISSIONING").where("id", .equal, host.id).run()
        }
        w.expectRefused(try await w.delete(path), "The compute machine still has 1 instance.",
                        errors: [("instances.computeMachineId", "1 instance refers to this compute machine")])
        #expect(try await w.get(path).status == 200)

        #expect(try await w.c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token).status == 202)
        let deletes = try await f.lease(host.credential)
        #expect(deletes.map(\.kind) == [.vmDelete])
        for task in deletes { try await f.finish(task, credential: host.credential) }
        #expect(try await f.instance(instance.id).instance.status == .deleted)
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
        let pool = try await w.get("/api/v1/resource-pools/\(f.pool.id)").decode(ResourcePool.self)
        #expect(pool.totalCpuCores == 0 && pool.allocatedCpuCores == 0)
        #expect(try await f.consistency().ok)
    }

    static let computeMachineCredential = DeleteFixture(
        "/api/v1/compute-machines/{id}/credential",
        .none(because: "it revokes the machine's agent credentials (rows stay, revoked); nothing refers to a credential")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.83.0.1")
        let path = "/api/v1/compute-machines/\(host.id)/credential"
        #expect(try await w.c.client.post("/agent/v1/heartbeat", token: host.credential, w.heartbeat).status == 200)
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.c.client.post("/agent/v1/heartbeat", token: host.credential, w.heartbeat).status == 401)
        #expect(try await w.delete(path).status == 204, "revoking again changes nothing")
        #expect(try await w.get("/api/v1/compute-machines/\(host.id)").status == 200)
    }

    static let cloudBoxCredential = DeleteFixture(
        "/api/v1/cloud-boxes/{id}/credential",
        .none(because: "it revokes the CloudBox's agent credentials (rows stay, revoked); nothing refers to a credential")
    ) { w in
        let f = try await AgentProtocolTests.Fixture.make(w.c)
        let box = try await w.created(CloudBox.self, "/api/v1/cloud-boxes", [
            "serialNumber": "CB-DEL-1", "edgeDataCenterId": f.dataCenter.id.uuidString,
        ])
        let registered = try await f.register(try await f.token(kind: .cloudBox), kind: .cloudBox, ip: "192.0.2.40", serial: "CB-DEL-1")
        #expect(registered.status == 201, "\(registered.text)")
        let credential = try registered.decode(RegisterResponse.self).credential
        #expect(try await f.heartbeat(credential).status == 200)
        let path = "/api/v1/cloud-boxes/\(box.id)/credential"
        #expect(try await w.delete(path).status == 204)
        #expect(try await f.heartbeat(credential).status == 401)
        #expect(try await w.delete(path).status == 204, "revoking again changes nothing")
        #expect(try await w.get("/api/v1/cloud-boxes/\(box.id)").status == 200)
    }

    static let enrollmentToken = DeleteFixture(
        "/api/v1/enrollment-tokens/{id}",
        .none(because: "it revokes the token (the row stays, revoked); nothing refers to an enrollment token")
    ) { w in
        let f = try await AgentProtocolTests.Fixture.make(w.c)
        let created = try await w.c.client.post("/api/v1/enrollment-tokens", token: w.admin, [
            "edgeDataCenterId": f.dataCenter.id.uuidString, "resourcePoolId": f.pool.id.uuidString, "kind": "COMPUTE_MACHINE",
        ])
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(try created.json()["id"] as? String), token = try #require(try created.json()["token"] as? String)
        let path = "/api/v1/enrollment-tokens/\(id)"
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).decode(EnrollmentToken.self).revokedAt != nil)
        let refused = try await f.register(token, ip: "10.84.0.1")
        #expect(refused.status == 401 && refused.text.contains("revoked"), "\(refused.text)")
        #expect(try await w.delete(path).status == 204, "revoking again changes nothing")
    }

    static let tenant = DeleteFixture(
        "/api/v1/tenants/{id}",
        .blocking("live users and a user group (users.tenant_id, user_groups.tenant_id RESTRICT; the tenant is deleted softly, INACTIVE, and its INACTIVE users no longer count)")
    ) { w in
        let tenant = try await w.c.createTenant(w.unique("tenant"), token: w.admin)
        let path = "/api/v1/tenants/\(tenant.id)"
        let first = try await w.c.createUser(w.unique("u"), role: .user, tenant: tenant.id, token: w.admin)
        let second = try await w.c.createUser(w.unique("u"), role: .user, tenant: tenant.id, token: w.admin)
        let group = try await w.created(UserGroup.self, "/api/v1/user-groups", ["name": "g", "tenantId": tenant.id.uuidString])
        w.expectRefused(try await w.delete(path), "The tenant still has 2 users and 1 user group.",
                        errors: [("users.tenantId", "2 users refer to this tenant"), ("userGroups.tenantId", "1 user group refers to this tenant")])
        #expect(try await w.delete("/api/v1/users/\(first.user.id)").status == 204)
        w.expectRefused(try await w.delete(path), "The tenant still has 1 user and 1 user group.",
                        errors: [("users.tenantId", "1 user refers to this tenant"), ("userGroups.tenantId", "1 user group refers to this tenant")])
        #expect(try await w.get(path).status == 200)

        #expect(try await w.delete("/api/v1/user-groups/\(group.id)").status == 204)
        #expect(try await w.delete("/api/v1/users/\(second.user.id)").status == 204)
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
    }

    static let user = DeleteFixture(
        "/api/v1/users/{id}",
        .blocking("a template it owns and that template's first version (templates.owner_id, template_versions.created_by RESTRICT; the user is deleted softly, INACTIVE)")
    ) { w in
        let tenant = try await w.c.createTenant(w.unique("tenant"), token: w.admin)
        let owner = try await w.c.createUser(w.unique("owner"), role: .tenantAdmin, tenant: tenant.id, token: w.admin)
        let template = try await w.created(Template.self, "/api/v1/templates", w.templateBody("owned"), token: owner.token)
        // Its API key (revoked) and group membership (removed) go with it: they do not keep the user.
        let key = try await w.c.client.post("/api/v1/api-keys", token: owner.token, ["name": "k"])
        let keyId = try #require(try key.json()["id"] as? String)
        let group = try await w.created(UserGroup.self, "/api/v1/user-groups", ["name": "g", "tenantId": tenant.id.uuidString])
        #expect(try await w.c.client.post("/api/v1/user-groups/\(group.id)/members", token: w.admin, ["userId": owner.user.id.uuidString]).status == 201)
        let path = "/api/v1/users/\(owner.user.id)"
        w.expectRefused(try await w.delete(path), "The user still has 1 template and 1 template version.",
                        errors: [("templates.ownerId", "1 template refers to this user"), ("templateVersions.createdBy", "1 template version refers to this user")])
        #expect(try await w.get(path).status == 200)

        #expect(try await w.delete("/api/v1/templates/\(template.id)").status == 204)
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
        #expect(try await w.get("/api/v1/api-keys/\(keyId)").decode(ApiKey.self).revokedAt != nil)
        #expect(try await w.get("/api/v1/user-groups/\(group.id)/members").decode(Page<UserGroupMember>.self).items.isEmpty)
    }

    static let userGroup = DeleteFixture(
        "/api/v1/user-groups/{id}",
        .blocking("a child group (the route's own rule: user_groups.parent_group_id is SET NULL)")
    ) { w in
        let tenant = try await w.c.createTenant(w.unique("tenant"), token: w.admin)
        let member = try await w.c.createUser(w.unique("m"), role: .user, tenant: tenant.id, token: w.admin)
        let parent = try await w.created(UserGroup.self, "/api/v1/user-groups", ["name": "parent", "tenantId": tenant.id.uuidString])
        let child = try await w.created(UserGroup.self, "/api/v1/user-groups", [
            "name": "child", "tenantId": tenant.id.uuidString, "parentGroupId": parent.id.uuidString,
        ])
        #expect(try await w.c.client.post("/api/v1/user-groups/\(parent.id)/members", token: w.admin, ["userId": member.user.id.uuidString]).status == 201)
        let path = "/api/v1/user-groups/\(parent.id)"
        w.expectRefused(try await w.delete(path), "The user group still has 1 child group.",
                        errors: [("userGroups.parentGroupId", "1 child group refers to this user group")])
        #expect(try await w.get(path).status == 200)

        #expect(try await w.delete("/api/v1/user-groups/\(child.id)").status == 204)
        // Its membership goes with it (CASCADE); the member stays.
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
        #expect(try await w.get("/api/v1/users/\(member.user.id)").status == 200)
    }

    static let userGroupMember = DeleteFixture(
        "/api/v1/user-groups/{id}/members/{userId}",
        .none(because: "a membership is a link row; nothing refers to it")
    ) { w in
        let tenant = try await w.c.createTenant(w.unique("tenant"), token: w.admin)
        let member = try await w.c.createUser(w.unique("m"), role: .user, tenant: tenant.id, token: w.admin)
        let group = try await w.created(UserGroup.self, "/api/v1/user-groups", ["name": "g", "tenantId": tenant.id.uuidString])
        #expect(try await w.c.client.post("/api/v1/user-groups/\(group.id)/members", token: w.admin, ["userId": member.user.id.uuidString]).status == 201)
        let path = "/api/v1/user-groups/\(group.id)/members/\(member.user.id)"
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get("/api/v1/user-groups/\(group.id)/members").decode(Page<UserGroupMember>.self).items.isEmpty)
        #expect(try await w.delete(path).status == 404)
        #expect(try await w.get("/api/v1/users/\(member.user.id)").status == 200)
    }

    static let apiKey = DeleteFixture(
        "/api/v1/api-keys/{id}", .none(because: "it revokes the key (the row stays, revoked); nothing refers to an API key")
    ) { w in
        let created = try await w.c.client.post("/api/v1/api-keys", token: w.admin, ["name": "k"])
        let id = try #require(try created.json()["id"] as? String), key = try #require(try created.json()["key"] as? String)
        #expect(try await w.c.client.get("/api/v1/auth/me", token: key).status == 200)
        let path = "/api/v1/api-keys/\(id)"
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).decode(ApiKey.self).revokedAt != nil)
        #expect(try await w.c.client.get("/api/v1/auth/me", token: key).status == 401)
        #expect(try await w.delete(path).status == 204, "revoking again changes nothing")
    }

    static let rolePermission = DeleteFixture(
        "/api/v1/role-permissions/{id}", .none(because: "a grant is a row of the roles-to-permissions table itself; nothing refers to it")
    ) { w in
        let page = try await w.c.client.get("/api/v1/permissions?resourceType=PLACE&action=CREATE", token: w.admin).json()
        let permission = try #require((page["items"] as? [[String: Any]])?.first?["id"] as? String)
        let created = try await w.c.client.post("/api/v1/role-permissions", token: w.admin, ["role": "OPERATOR", "permissionId": permission])
        #expect(created.status == 201, "\(created.text)")
        let path = "/api/v1/role-permissions/\(try #require(try created.json()["id"] as? String))"
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.c.client.get(path, token: w.admin).status == 404)
        #expect(try await w.delete(path).status == 404, "a revoked grant is gone")
    }

    static let template = DeleteFixture(
        "/api/v1/templates/{id}",
        .blocking("an instance made from it (the route's own rule: instances.template_id is SET NULL)")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.85.0.1")
        let instance = try await f.running("made-from-it", on: host)
        let path = "/api/v1/templates/\(f.template.id)"
        let refusal = "The template still has 1 instance; set its status to DEPRECATED or ARCHIVED instead."
        let errors = [("instances.templateId", "1 instance refers to this template")]
        w.expectRefused(try await w.delete(path), refusal, errors: errors)
        #expect(try await w.get(path).status == 200)
        // As documented (TemplateTests), instances keep the template they were made from on record, deleted
        // ones too: such a template is deprecated, not deleted.
        #expect(try await w.c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token).status == 202)
        for task in try await f.lease(host.credential) { try await f.finish(task, credential: host.credential) }
        #expect(try await f.instance(instance.id).instance.status == .deleted)
        w.expectRefused(try await w.delete(path), refusal, errors: errors)

        // Its versions (CASCADE) do not keep a template that no instance was made from.
        let spare = try await w.created(Template.self, "/api/v1/templates", w.templateBody("spare"))
        let version = try await w.c.client.post("/api/v1/templates/\(spare.id)/versions", token: w.admin, [
            "versionNumber": "v2", "config": ["cpuCores": 1, "memoryGb": 1, "storageGb": 10],
        ])
        #expect(version.status == 201, "\(version.text)")
        #expect(try await w.delete("/api/v1/templates/\(spare.id)").status == 204)
        #expect(try await w.get("/api/v1/templates/\(spare.id)").status == 404)
    }

    static let instance = DeleteFixture(
        "/api/v1/instances/{id}",
        .none(because: "what refers to an instance (its VM, claims, set memberships, disk attachments) goes with it (CASCADE) "
              + "or lets go (SET NULL); the delete is asynchronous and keeps the row as DELETED")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.86.0.1")
        let instance = try await f.running("doomed", on: host)
        let set = try await w.created(InstanceSet.self, "/api/v1/instance-sets", ["name": "lab"], token: f.user.token)
        #expect(try await w.c.client.post("/api/v1/instance-sets/\(set.id)/members", token: f.user.token, ["instanceId": instance.id.uuidString]).status == 201)
        let accepted = try await w.c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token)
        #expect(accepted.status == 202, "\(accepted.text)")
        #expect(try accepted.decode(InstanceService.Accepted.self).instance.instance.status == .deleting)
        let deletes = try await f.lease(host.credential)
        #expect(deletes.map(\.kind) == [.vmDelete])
        for task in deletes { try await f.finish(task, credential: host.credential) }
        #expect(try await f.instance(instance.id).instance.status == .deleted)
        #expect(try await w.c.client.delete("/api/v1/instances/\(instance.id)", token: f.user.token).status == 202, "asked again")
        #expect(try await f.consistency().ok)
    }

    static let instanceSet = DeleteFixture(
        "/api/v1/instance-sets/{id}",
        .none(because: "its status becomes DELETED (the row stays); only its members (CASCADE) refer to it")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.87.0.1")
        let instance = try await f.running("member", on: host)
        let set = try await w.created(InstanceSet.self, "/api/v1/instance-sets", ["name": "lab"], token: f.user.token)
        #expect(try await w.c.client.post("/api/v1/instance-sets/\(set.id)/members", token: f.user.token, ["instanceId": instance.id.uuidString]).status == 201)
        let path = "/api/v1/instance-sets/\(set.id)"
        #expect(try await w.c.client.delete(path, token: f.user.token).status == 204)
        #expect(try await w.get(path).status == 404, "a DELETED instance set is hidden")
        let sets = try await w.get("/api/v1/instance-sets?status=DELETED").decode(Page<InstanceSet>.self).items
        #expect(sets.map(\.id).contains(set.id))
        #expect(try await f.instance(instance.id).instance.status == .running)
    }

    static let instanceSetMember = DeleteFixture(
        "/api/v1/instance-sets/{id}/members/{memberId}",
        .none(because: "a membership is a link row; nothing refers to it")
    ) { w in
        let f = try await InstanceFixture.make(w.c)
        let host = try await f.addMachine(ip: "10.88.0.1")
        let instance = try await f.running("member", on: host)
        let set = try await w.created(InstanceSet.self, "/api/v1/instance-sets", ["name": "lab"], token: f.user.token)
        let member = try await w.created(InstanceSetMember.self, "/api/v1/instance-sets/\(set.id)/members",
                                         ["instanceId": instance.id.uuidString], token: f.user.token)
        let path = "/api/v1/instance-sets/\(set.id)/members/\(member.id)"
        #expect(try await w.c.client.delete(path, token: f.user.token).status == 204)
        #expect(try await w.get("/api/v1/instance-sets/\(set.id)/members").decode(Page<InstanceSetMember>.self).items.isEmpty)
        #expect(try await w.c.client.delete(path, token: f.user.token).status == 404)
        #expect(try await f.instance(instance.id).instance.status == .running)
    }
    static let image = DeleteFixture(
        "/api/v1/images/{id}",
        .blocking("a template that names it as its base image (the route's own rule: templates.base_image_id has no foreign key)")
    ) { w in
        let image = try await w.created(Image.self, "/api/v1/images", ["name": w.unique("img"), "imageType": "OS_BASE", "visibility": "PUBLIC"])
        let path = "/api/v1/images/\(image.id)"
        let version = try await w.created(ImageVersion.self, "\(path)/versions", ["versionNumber": "v1"])
        _ = try await w.created(ImageTag.self, "\(path)/tags", ["tagName": "stable", "versionId": version.id.uuidString, "isImmutable": true])
        let template = try await w.created(Template.self, "/api/v1/templates",
                                           w.templateBody("on-image").merging(["baseImageId": image.id.uuidString]) { $1 })
        w.expectRefused(try await w.delete(path), "The image still has 1 template; set its status to DEPRECATED or ARCHIVED instead.",
                        errors: [("templates.baseImageId", "1 template refers to this image")])
        #expect(try await w.get(path).status == 200)

        #expect(try await w.delete("/api/v1/templates/\(template.id)").status == 204)
        // Its versions and tags (an immutable one too) go with it (CASCADE).
        #expect(try await w.delete(path).status == 204)
        #expect(try await w.get(path).status == 404)
        #expect(try await w.get("\(path)/versions/\(version.id)").status == 404)
    }

    static let imageVersion = DeleteFixture(
        "/api/v1/images/{id}/versions/{versionId}",
        .blocking("an immutable tag that names it (the route's own rule: image_tags.version_id is CASCADE)")
    ) { w in
        let image = try await w.created(Image.self, "/api/v1/images", ["name": w.unique("img"), "imageType": "OS_BASE", "visibility": "PUBLIC"])
        let path = "/api/v1/images/\(image.id)"
        let pinned = try await w.created(ImageVersion.self, "\(path)/versions", ["versionNumber": "v1"])
        _ = try await w.created(ImageTag.self, "\(path)/tags", ["tagName": "release", "versionId": pinned.id.uuidString, "isImmutable": true])
        w.expectRefused(try await w.delete("\(path)/versions/\(pinned.id)"),
                        "The image version still has 1 immutable tag; an immutable tag cannot be moved or deleted.",
                        errors: [("imageTags.versionId", "1 immutable tag refers to this image version")])
        #expect(try await w.get("\(path)/versions/\(pinned.id)").status == 200)

        // A version with a mutable tag and a child version: the tag goes with it (CASCADE), the child lets go
        // of its parent (SET NULL).
        let middle = try await w.created(ImageVersion.self, "\(path)/versions", ["versionNumber": "v2", "parentVersionId": pinned.id.uuidString])
        _ = try await w.created(ImageTag.self, "\(path)/tags", ["tagName": "edge", "versionId": middle.id.uuidString])
        let child = try await w.created(ImageVersion.self, "\(path)/versions", ["versionNumber": "v3", "parentVersionId": middle.id.uuidString])
        #expect(try await w.delete("\(path)/versions/\(middle.id)").status == 204)
        #expect(try await w.get("\(path)/versions/\(middle.id)").status == 404)
        #expect(try await w.get("\(path)/tags/edge").status == 404)
        let orphan = try await w.get("\(path)/versions/\(child.id)").decode(ImageVersion.self)
        #expect(orphan.parentVersionId == nil && orphan.isLatest)
    }

    static let imageTag = DeleteFixture(
        "/api/v1/images/{id}/tags/{tagName}",
        .none(because: "nothing refers to a tag; an immutable tag is refused as documented (409), a mutable one is deleted")
    ) { w in
        let image = try await w.created(Image.self, "/api/v1/images", ["name": w.unique("img"), "imageType": "OS_BASE", "visibility": "PUBLIC"])
        let path = "/api/v1/images/\(image.id)"
        let version = try await w.created(ImageVersion.self, "\(path)/versions", ["versionNumber": "v1"])
        _ = try await w.created(ImageTag.self, "\(path)/tags", ["tagName": "pinned", "versionId": version.id.uuidString, "isImmutable": true])
        _ = try await w.created(ImageTag.self, "\(path)/tags", ["tagName": "moving", "versionId": version.id.uuidString])
        w.expectRefused(try await w.delete("\(path)/tags/pinned"), "Tag 'pinned' is immutable: it cannot be moved or deleted.",
                        errors: [("tagName", "Tag 'pinned' is immutable: it cannot be moved or deleted.")])
        #expect(try await w.delete("\(path)/tags/moving").status == 204)
        #expect(try await w.get("\(path)/tags/moving").status == 404)
        #expect(try await w.delete("\(path)/tags/moving").status == 404)
        #expect(try await w.get("\(path)/versions/\(version.id)").status == 200)
    }
}

/// A coordinator and its admin, with the helpers the fixtures share.
struct DeleteWorld: Sendable {
    let c: TestCoordinator
    let admin: String

    func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

    func get(_ path: String) async throws -> APIResponse { try await c.client.get(path, token: admin) }
    func delete(_ path: String) async throws -> APIResponse { try await c.client.delete(path, token: admin) }

    /// POSTs `body` and decodes the 201.
    func created<T: Decodable>(_ type: T.Type, _ path: String, _ body: [String: Any], token: String? = nil) async throws -> T {
        let response = try await c.client.post(path, token: token ?? admin, body)
        guard response.status == 201 else { throw TestFailure("POST \(path): \(response.status) \(response.text)") }
        return try response.decode(T.self)
    }

    func templateBody(_ name: String) -> [String: Any] {
        ["name": name, "visibility": "PRIVATE", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 10]
    }

    var heartbeat: [String: Any] {
        ["metrics": ["cpuUsagePercent": 1, "memoryUsagePercent": 1, "diskUsagePercent": 1, "temperature": 30, "uptimeSeconds": 10],
         "observedVms": [], "agentVersion": "test"]
    }

    /// Writes the coordinator's database directly (to make a state that only a race makes).
    func sql(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Void) async throws {
        guard let url = c.configuration.databaseURL else { throw TestFailure("the test coordinator has no database URL") }
        try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
            try await body(database.sql)
        }
    }

    /// A 409 problem+json whose detail and `errors` are exactly these.
    func expectRefused(
        _ response: APIResponse, _ detail: String, errors: [(field: String, message: String)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == 409, "\(response.status) \(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers.first(name: "Content-Type") == "application/problem+json", sourceLocation: sourceLocation)
        let body = try? response.json()
        #expect(body?["detail"] as? String == detail, "\(response.text)", sourceLocation: sourceLocation)
        let listed = (body?["errors"] as? [[String: Any]] ?? []).map { "\($0["field"] as? String ?? "?"): \($0["message"] as? String ?? "?")" }
        #expect(listed == errors.map { "\($0.field): \($0.message)" }, sourceLocation: sourceLocation)
    }
}
