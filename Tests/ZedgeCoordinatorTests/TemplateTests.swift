import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Templates through the HTTP API: visibility on read and on use, status, typed parameters, versions, and
/// who may create and delete them. Built on `InstanceFixture` (tenant A is the fixture's tenant).
@Suite("Templates")
struct TemplateTests {
    @Test(arguments: TestEngine.all)
    func visibilityIsEnforcedOnReadAndOnUse(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            _ = try await f.addMachine(ip: "10.20.0.1", cpu: 64, memory: 256)
            let tenantAdmin = try await c.createUser(unique("tadmin"), role: .tenantAdmin, tenant: f.tenant.id, token: f.admin)
            let colleague = try await c.createUser(unique("colleague"), role: .user, tenant: f.tenant.id, token: f.admin)
            let tenantB = try await c.createTenant(unique("tenant-b"), token: f.admin)
            let stranger = try await c.createUser(unique("stranger"), role: .user, tenant: tenantB.id, token: f.admin)
            let strangerAdmin = try await c.createUser(unique("badmin"), role: .tenantAdmin, tenant: tenantB.id, token: f.admin)

            // PRIVATE, made by tenant A's TENANT_ADMIN: its owner, A's TENANT_ADMINs and ADMIN only.
            let privateResponse = try await f.createTemplate(token: tenantAdmin.token, ["name": "private-t", "visibility": "PRIVATE"])
            #expect(privateResponse.status == 201, "\(privateResponse.text)")
            let privateTemplate = try privateResponse.decode(Template.self)
            #expect(privateTemplate.tenantId == f.tenant.id && privateTemplate.ownerId == tenantAdmin.user.id)
            for (who, token) in [("a USER of tenant B", stranger.token), ("a USER of tenant A who is not its owner", colleague.token),
                                 ("a TENANT_ADMIN of tenant B", strangerAdmin.token)] {
                try await f.expectInvisible(privateTemplate.id, to: token, who)
            }
            let otherTenantAdmin = try await c.createUser(unique("tadmin2"), role: .tenantAdmin, tenant: f.tenant.id, token: f.admin)
            for (who, token) in [("its owner", tenantAdmin.token), ("another TENANT_ADMIN of tenant A", otherTenantAdmin.token),
                                 ("ADMIN", f.admin)] {
                try await f.expectVisible(privateTemplate.id, to: token, who)
            }
            let own = try await f.create(from: privateTemplate.id, "from-private", token: tenantAdmin.token)
            #expect(own.status == 202, "\(own.text)")

            // PUBLIC: everyone sees and uses it, in any tenant.
            let publicTemplate = try await f.createTemplate(token: tenantAdmin.token, ["name": "public-t", "visibility": "PUBLIC"])
                .decode(Template.self)
            for (who, token) in [("a USER of tenant B", stranger.token), ("a USER of tenant A", colleague.token),
                                 ("a TENANT_ADMIN of tenant B", strangerAdmin.token)] {
                try await f.expectVisible(publicTemplate.id, to: token, who)
            }
            let elsewhere = try await f.create(from: publicTemplate.id, "from-public", token: stranger.token)
            #expect(elsewhere.status == 202, "\(elsewhere.text)")
            #expect(try elsewhere.decode(InstanceService.Accepted.self).instance.instance.tenantId == tenantB.id)

            // GROUP_SPECIFIC: the members of its groups (in its tenant) see and use it; other users of the tenant do not.
            let group = try await c.client.post("/api/v1/user-groups", token: f.admin, [
                "name": "builders", "tenantId": f.tenant.id.uuidString,
            ]).decode(UserGroup.self)
            let joined = try await c.client.post("/api/v1/user-groups/\(group.id)/members", token: f.admin, ["userId": f.user.user.id.uuidString])
            #expect(joined.status == 201, "\(joined.text)")
            let groupResponse = try await f.createTemplate(token: tenantAdmin.token, [
                "name": "group-t", "visibility": "GROUP_SPECIFIC", "groupIds": [group.id.uuidString],
            ])
            #expect(groupResponse.status == 201, "\(groupResponse.text)")
            let groupTemplate = try groupResponse.decode(TemplateView.self)
            #expect(groupTemplate.groupIds == [group.id])
            try await f.expectVisible(groupTemplate.template.id, to: f.user.token, "a member of its group")
            let member = try await f.create(from: groupTemplate.template.id, "from-group", token: f.user.token)
            #expect(member.status == 202, "\(member.text)")
            for (who, token) in [("a USER of tenant A outside the group", colleague.token), ("a USER of tenant B", stranger.token)] {
                try await f.expectInvisible(groupTemplate.template.id, to: token, who)
            }
            // Leaving the group takes the template away again.
            #expect(try await c.client.delete("/api/v1/user-groups/\(group.id)/members/\(f.user.user.id)", token: f.admin).status == 204)
            try await f.expectInvisible(groupTemplate.template.id, to: f.user.token, "a former member of its group")

            // GROUP_SPECIFIC must name its groups, on create and on change.
            for groupIds in [nil, [String]()] as [[String]?] {
                var body: [String: Any] = ["name": "nogroups", "visibility": "GROUP_SPECIFIC"]
                if let groupIds { body["groupIds"] = groupIds }
                let refused = try await f.createTemplate(token: tenantAdmin.token, body)
                #expect(refused.status == 422, "\(refused.text)")
                #expect(refused.problemFields == ["groupIds"], "\(refused.text)")
            }
            let regroup = try await c.client.patch("/api/v1/templates/\(privateTemplate.id)", token: tenantAdmin.token, ["visibility": "GROUP_SPECIFIC"])
            #expect(regroup.status == 422 && regroup.problemFields == ["groupIds"], "\(regroup.text)")
            #expect(try await c.client.get("/api/v1/templates/\(privateTemplate.id)", token: f.admin).decode(Template.self).visibility == .private)
            #expect(try await f.consistency().ok)
        }
    }

    @Test(arguments: TestEngine.all)
    func aDeprecatedTemplateRefusesNewInstancesAndKeepsOldOnes(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.21.0.1", cpu: 16, memory: 64)
            let before = try await f.create("before")
            #expect(before.status == 202, "\(before.text)")
            let id = try before.decode(InstanceService.Accepted.self).instance.instance.id
            let create = try await f.leaseCreate(named: "before", credential: host.credential)
            try await f.finish(create, credential: host.credential, state: .running)
            #expect(try await f.instance(id).instance.status == .running)

            let deprecated = try await c.client.patch("/api/v1/templates/\(f.template.id)", token: f.admin, ["status": "DEPRECATED"])
            #expect(deprecated.status == 200, "\(deprecated.text)")
            #expect(try deprecated.decode(Template.self).status == .deprecated)

            let refused = try await f.create("after")
            #expect(refused.status == 409, "\(refused.text)")
            let detail = try refused.json()["detail"] as? String ?? ""
            #expect(detail.contains("DEPRECATED"), "\(refused.text)")
            #expect(refused.problemFields == ["templateId"], "\(refused.text)")
            let names = try await c.client.get("/api/v1/instances", token: f.user.token).decode(Page<InstanceView>.self).items.map(\.instance.name)
            #expect(names == ["before"])

            // The instance made before stays, and its lifecycle goes on.
            #expect(try await f.instance(id).instance.status == .running)
            #expect(try await c.client.get("/api/v1/templates/\(f.template.id)", token: f.user.token).status == 200)
            let stop = try await c.client.post("/api/v1/instances/\(id)/actions/stop", token: f.user.token, [:])
            #expect(stop.status == 202, "\(stop.text)")
            let stopTask = try await f.lease(host.credential)
            #expect(stopTask.map(\.kind) == [.vmStop])
            try await f.finish(stopTask[0], credential: host.credential, state: .shutOff)
            #expect(try await f.instance(id).instance.status == .stopped)
            let machine = try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self)
            #expect(machine.allocatedCpuCores == 2, "the kept instance keeps its claim")

            // Back to ACTIVE, it takes instances again.
            #expect(try await c.client.patch("/api/v1/templates/\(f.template.id)", token: f.admin, ["status": "ACTIVE"]).status == 200)
            #expect(try await f.create("after-again").status == 202)

            // Create accepts what PATCH accepts: a template may start DEPRECATED (issue #15 item 6), and it refuses
            // instances from the start.
            let born = try await f.createTemplate(token: f.admin, ["name": "born-deprecated", "visibility": "PUBLIC", "status": "DEPRECATED"])
            #expect(born.status == 201, "\(born.text)")
            let bornTemplate = try born.decode(Template.self)
            #expect(bornTemplate.status == .deprecated)
            #expect(try await f.create(from: bornTemplate.id, "from-born").status == 409)
            let badStatus = try await f.createTemplate(token: f.admin, ["name": "bad-status", "visibility": "PUBLIC", "status": "GONE"])
            #expect(badStatus.status == 400 && badStatus.problemFields == ["status"], "\(badStatus.text)")
            #expect(try await f.consistency().ok)
        }
    }

    @Test(arguments: TestEngine.all)
    func parametersAreTypedCheckedAndSnapshotted(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.22.0.1", cpu: 16, memory: 64)
            let parameters: [[String: Any]] = [
                ["name": "cpuCores", "type": "integer", "default": 2, "minimum": 1, "maximum": 8],
                ["name": "edition", "type": "string", "required": true, "allowedValues": ["basic", "pro"]],
                ["name": "debug", "type": "boolean", "default": false],
            ]
            let created = try await f.createTemplate(token: f.admin, [
                "name": "tunable", "visibility": "PUBLIC", "defaultCpuCores": 2, "defaultMemoryGb": 2, "parameters": parameters,
            ])
            #expect(created.status == 201, "\(created.text)")
            // A template that does not exist is refused as any unknown id is: 422 naming templateId, the same detail.
            let unknown = try await c.client.post("/api/v1/instances", token: f.user.token, ["name": "nope", "templateId": UUID().uuidString])
            #expect(unknown.status == 422 && problemField(unknown) == "templateId" && unknown.text.contains("no such template")
                    && unknown.text.contains(#""detail":"Invalid field(s): templateId""#)
                    && unknown.text.contains(#""title":"Unprocessable request""#), "\(unknown.text)")
            let template = try created.decode(Template.self)

            // Every refusal names the parameter; nothing is created or claimed.
            let refusals: [([String: Any], String)] = [
                (["cpuCores": 4], "parameters.edition"),                    // required, missing
                (["edition": "gold"], "parameters.edition"),                // not an allowed value
                (["edition": "pro", "cpuCores": "four"], "parameters.cpuCores"),  // wrong type
                (["edition": "pro", "cpuCores": 9], "parameters.cpuCores"),       // above its maximum
                (["edition": "pro", "cpuCores": 0], "parameters.cpuCores"),       // below its minimum
                (["edition": "pro", "foo": 1], "parameters.foo"),           // not declared
                (["edition": "pro", "debug": "yes"], "parameters.debug"),   // wrong type
            ]
            for (index, (values, field)) in refusals.enumerated() {
                let refused = try await f.create(from: template.id, "refused-\(index)", extra: ["parameters": values])
                #expect(refused.status == 422, "\(values): \(refused.text)")
                #expect(refused.problemFields == [field], "\(values): \(refused.text)")
            }
            #expect(try await c.client.get("/api/v1/instances", token: f.user.token).decode(Page<InstanceView>.self).items.isEmpty)
            #expect(try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self).allocatedCpuCores == 0)

            // A valid create: the resolved config (with defaults filled in) is snapshotted, and sizes the VM.
            let accepted = try await f.create(from: template.id, "tuned", extra: ["parameters": ["cpuCores": 4, "edition": "pro"]])
            #expect(accepted.status == 202, "\(accepted.text)")
            let id = try accepted.decode(InstanceService.Accepted.self).instance.instance.id
            let config = try #require(try await f.instance(id).instance.config).decode(as: ResolvedInstanceConfig.self)
            #expect(config.resources.cpuCores == 4 && config.resources.memoryGb == 2)
            #expect(config.parameters["edition"] == .string("pro"))
            #expect(config.parameters["debug"] == .bool(false))
            #expect(config.parameters["cpuCores"] == .number(4))
            #expect(config.templateVersion == "v1.0.0")
            let payload = try await f.leaseCreate(named: "tuned", credential: host.credential)
            let spec = try payload.payload.decode(as: VmCreatePayload.self).spec
            #expect(spec.vcpus == 4 && spec.memoryMiB == 2048)
            #expect(try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self).allocatedCpuCores == 4)

            // Defaults apply when a value is left out.
            let plain = try await f.create(from: template.id, "plain", extra: ["parameters": ["edition": "basic"]])
            #expect(plain.status == 202, "\(plain.text)")
            let plainConfig = try #require(try plain.decode(InstanceService.Accepted.self).instance.instance.config)
                .decode(as: ResolvedInstanceConfig.self)
            #expect(plainConfig.resources.cpuCores == 2 && plainConfig.parameters["cpuCores"] == .number(2))
            #expect(plainConfig.parameters["debug"] == .bool(false) && plainConfig.parameters["edition"] == .string("basic"))

            // A parameter that sizes the instance must be an integer: on create and on a new version.
            let badSize = try await f.createTemplate(token: f.admin, [
                "name": "badsize", "visibility": "PUBLIC", "parameters": [["name": "memoryGb", "type": "string", "default": "8"]],
            ])
            #expect(badSize.status == 422, "\(badSize.text)")
            #expect(badSize.problemFields.contains("parameters[0].type"), "\(badSize.text)")
            let badVersion = try await c.client.post("/api/v1/templates/\(template.id)/versions", token: f.admin, [
                "versionNumber": "v2", "config": ["cpuCores": 2, "memoryGb": 2, "storageGb": 10,
                                                   "parameters": [["name": "cpuCores", "type": "number"]]],
            ])
            #expect(badVersion.status == 422, "\(badVersion.text)")
            #expect(badVersion.problemFields == ["config.parameters[0].type"], "\(badVersion.text)")
            // A type JSON Schema does not have: 400 naming the field and listing the types there are.
            let unknownType = try await f.createTemplate(token: f.admin, [
                "name": "badtype", "visibility": "PUBLIC", "parameters": [["name": "edition", "type": "text"]],
            ])
            #expect(unknownType.status == 400 && unknownType.problemFields == ["parameters[0].type"]
                    && unknownType.text.contains("must be one of string, integer, number, boolean"), "\(unknownType.text)")
            #expect(try await f.consistency().ok)
        }
    }

    @Test(arguments: TestEngine.all)
    func versionsPublishAndPin(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c, cpu: 2, memory: 4)
            let host = try await f.addMachine(ip: "10.23.0.1", cpu: 32, memory: 128)
            let path = "/api/v1/templates/\(f.template.id)/versions"
            let first = try await f.versions()
            #expect(first.map(\.versionNumber) == ["v1.0.0"] && first.allSatisfy(\.isLatest))

            let published = try await c.client.post(path, token: f.admin, [
                "versionNumber": "v2.0.0", "changelog": "bigger",
                "config": ["cpuCores": 6, "memoryGb": 8, "storageGb": 20],
            ])
            #expect(published.status == 201, "\(published.text)")
            let v2 = try published.decode(TemplateVersion.self)
            #expect(v2.isLatest && v2.versionNumber == "v2.0.0")
            let both = try await f.versions()
            #expect(Set(both.map(\.versionNumber)) == ["v1.0.0", "v2.0.0"])
            #expect(both.filter(\.isLatest).map(\.id) == [v2.id])
            let template = try await c.client.get("/api/v1/templates/\(f.template.id)", token: f.user.token).decode(Template.self)
            #expect(template.version == "v2.0.0" && template.defaultCpuCores == 6 && template.defaultMemoryGb == 8
                && template.defaultStorageGb == 20)

            // Without templateVersion an instance gets the latest; naming the old one pins its size.
            let latest = try await f.create("on-latest")
            #expect(latest.status == 202, "\(latest.text)")
            let latestConfig = try #require(try latest.decode(InstanceService.Accepted.self).instance.instance.config)
                .decode(as: ResolvedInstanceConfig.self)
            #expect(latestConfig.resources.cpuCores == 6 && latestConfig.resources.memoryGb == 8)
            #expect(latestConfig.templateVersion == "v2.0.0" && latestConfig.templateVersionId == v2.id)
            #expect(try await f.leaseCreate(named: "on-latest", credential: host.credential).payload.decode(as: VmCreatePayload.self).spec.vcpus == 6)

            let pinned = try await f.create("on-old", extra: ["templateVersion": "v1.0.0"])
            #expect(pinned.status == 202, "\(pinned.text)")
            let pinnedConfig = try #require(try pinned.decode(InstanceService.Accepted.self).instance.instance.config)
                .decode(as: ResolvedInstanceConfig.self)
            #expect(pinnedConfig.resources.cpuCores == 2 && pinnedConfig.resources.memoryGb == 4 && pinnedConfig.templateVersion == "v1.0.0")
            let oldSpec = try await f.leaseCreate(named: "on-old", credential: host.credential).payload.decode(as: VmCreatePayload.self).spec
            #expect(oldSpec.vcpus == 2 && oldSpec.memoryMiB == 4096)
            let machine = try await c.client.get("/api/v1/compute-machines/\(host.id)", token: f.admin).decode(ComputeMachine.self)
            #expect(machine.allocatedCpuCores == 8 && machine.allocatedMemoryGb == 12)

            // A duplicate version number is a 409 that changes nothing.
            for number in ["v2.0.0", "v1.0.0"] {
                let duplicate = try await c.client.post(path, token: f.admin, [
                    "versionNumber": number, "config": ["cpuCores": 1, "memoryGb": 1, "storageGb": 1],
                ])
                #expect(duplicate.status == 409, "\(number): \(duplicate.text)")
            }
            let after = try await f.versions()
            #expect(after.count == 2 && after.filter(\.isLatest).map(\.id) == [v2.id])
            #expect(try await c.client.get("/api/v1/templates/\(f.template.id)", token: f.admin).decode(Template.self).defaultCpuCores == 6)

            // A version that does not exist is bad input, named.
            let missing = try await f.create("on-missing", extra: ["templateVersion": "v9.9.9"])
            #expect(missing.status == 422, "\(missing.text)")
            #expect(missing.problemFields == ["templateVersion"], "\(missing.text)")

            // Only those who manage the template publish versions: a USER who may see (and use) it gets a 403,
            // and nothing is published.
            let byUser = try await c.client.post(path, token: f.user.token, [
                "versionNumber": "v3.0.0", "config": ["cpuCores": 1, "memoryGb": 1, "storageGb": 1],
            ])
            #expect(byUser.status == 403, "\(byUser.text)")
            #expect(try await f.versions().count == 2)
            #expect(try await f.consistency().ok)
        }
    }

    @Test(arguments: TestEngine.all)
    func concurrentPublishesLeaveExactlyOneLatest(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let path = "/api/v1/templates/\(f.template.id)/versions"
            let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 1...8 {
                    group.addTask {
                        let response = try await c.client.post(path, token: f.admin, [
                            "versionNumber": "v2.0.\(i)", "config": ["cpuCores": i, "memoryGb": 4, "storageGb": 10],
                        ])
                        return (response.status, response.text)
                    }
                }
                var all: [(Int, String)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(statuses.allSatisfy { $0.0 == 201 }, "\(statuses.filter { $0.0 != 201 })")
            let versions = try await f.versions()
            #expect(versions.count == 9)
            let latest = versions.filter(\.isLatest)
            #expect(latest.count == 1, "\(latest.map(\.versionNumber))")
            // The template mirrors whichever version is the latest.
            let template = try await c.client.get("/api/v1/templates/\(f.template.id)", token: f.admin).decode(Template.self)
            #expect(latest.first?.versionNumber == template.version, "\(latest.map(\.versionNumber)) vs \(template.version)")
            #expect(try latest.first?.configSnapshot.decode(as: TemplateConfig.self).cpuCores == template.defaultCpuCores)
        }
    }

    @Test(arguments: TestEngine.all)
    func whoMayCreateAndDeleteTemplates(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let host = try await f.addMachine(ip: "10.24.0.1", cpu: 16, memory: 64)
            let tenantAdmin = try await c.createUser(unique("tadmin"), role: .tenantAdmin, tenant: f.tenant.id, token: f.admin)
            let tenantB = try await c.createTenant(unique("tenant-b"), token: f.admin)
            let adminB = try await c.createUser(unique("badmin"), role: .tenantAdmin, tenant: tenantB.id, token: f.admin)

            // A USER may not create templates.
            let byUser = try await f.createTemplate(token: f.user.token, ["name": "users-own", "visibility": "PRIVATE"])
            #expect(byUser.status == 403, "\(byUser.text)")
            #expect(try await c.client.get("/api/v1/templates?name=users-own", token: f.admin).decode(Page<Template>.self).items.isEmpty)

            // A TENANT_ADMIN may, in its own tenant only.
            let mine = try await f.createTemplate(token: tenantAdmin.token, ["name": "tenants-own", "visibility": "PUBLIC"])
            #expect(mine.status == 201, "\(mine.text)")
            let template = try mine.decode(Template.self)
            #expect(template.tenantId == f.tenant.id && template.ownerId == tenantAdmin.user.id && template.status == .active)
            let foreign = try await f.createTemplate(token: tenantAdmin.token, [
                "name": "foreign", "visibility": "PUBLIC", "tenantId": tenantB.id.uuidString,
            ])
            #expect(foreign.status == 403 && foreign.problemFields == ["tenantId"], "\(foreign.text)")

            // Another tenant's TENANT_ADMIN sees the PUBLIC template but cannot change or delete it.
            #expect(try await c.client.patch("/api/v1/templates/\(template.id)", token: adminB.token, ["status": "ARCHIVED"]).status == 403)
            #expect(try await c.client.delete("/api/v1/templates/\(template.id)", token: adminB.token).status == 403)

            // Deleting a template an instance was made from is refused, also after that instance is gone.
            let used = try await f.create(from: template.id, "user-of-it")
            #expect(used.status == 202, "\(used.text)")
            let instanceId = try used.decode(InstanceService.Accepted.self).instance.instance.id
            let refused = try await c.client.delete("/api/v1/templates/\(template.id)", token: tenantAdmin.token)
            #expect(refused.status == 409, "\(refused.text)")
            #expect(try await c.client.get("/api/v1/templates/\(template.id)", token: f.user.token).status == 200)
            let create = try await f.leaseCreate(named: "user-of-it", credential: host.credential)
            try await f.finish(create, credential: host.credential, state: .running)
            #expect(try await c.client.delete("/api/v1/instances/\(instanceId)", token: f.user.token).status == 202)
            let deletes = try await f.lease(host.credential)
            #expect(deletes.map(\.kind) == [.vmDelete])
            try await f.finish(deletes[0], credential: host.credential)
            #expect(try await f.instance(instanceId).instance.status == .deleted)
            #expect(try await c.client.delete("/api/v1/templates/\(template.id)", token: tenantAdmin.token).status == 409)

            // An unused one deletes, and is gone.
            let spare = try await f.createTemplate(token: tenantAdmin.token, ["name": "spare", "visibility": "PRIVATE"]).decode(Template.self)
            // A USER cannot see another's PRIVATE template, so to it the template does not exist.
            #expect(try await c.client.delete("/api/v1/templates/\(spare.id)", token: f.user.token).status == 404)
            #expect(try await c.client.delete("/api/v1/templates/\(spare.id)", token: tenantAdmin.token).status == 204)
            #expect(try await c.client.get("/api/v1/templates/\(spare.id)", token: tenantAdmin.token).status == 404)
            #expect(try await f.consistency().ok)
        }
    }
}

private func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

extension InstanceFixture {
    /// POST /api/v1/templates with a small default size unless `body` says otherwise.
    fileprivate func createTemplate(token: String, _ body: [String: Any]) async throws -> APIResponse {
        var full: [String: Any] = ["defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 10]
        for (k, v) in body { full[k] = v }
        return try await c.client.post("/api/v1/templates", token: token, full)
    }

    /// An instance create naming `templateId` (as the fixture's USER unless `token` is given).
    fileprivate func create(from templateId: UUID, _ name: String, token: String? = nil, extra: [String: Any] = [:]) async throws -> APIResponse {
        var body = extra
        body["templateId"] = templateId.uuidString
        return try await create(name, token: token, extra: body)
    }

    /// The fixture template's versions.
    fileprivate func versions() async throws -> [TemplateVersion] {
        try await c.client.get("/api/v1/templates/\(template.id)/versions", token: admin).decode(Page<TemplateVersion>.self).items
    }

    /// Leases the machine's queued tasks and returns the `vm.create` of the instance named `name` (its
    /// domain is named "zedge-<8 hex>-<name>").
    fileprivate func leaseCreate(named name: String, credential: String) async throws -> TaskAssignment {
        let tasks = try await lease(credential)
        let creates = try tasks.filter { task in
            guard task.kind == .vmCreate else { return false }
            return try task.payload.decode(as: VmCreatePayload.self).spec.name.hasSuffix("-\(name)")
        }
        guard creates.count == 1 else { throw TestFailure("expected one vm.create for \(name), leased \(tasks.map(\.kind))") }
        return creates[0]
    }

    /// GET 404, absent from the list, and an instance create naming it is a 400 on `templateId`.
    fileprivate func expectInvisible(_ templateId: UUID, to token: String, _ who: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let read = try await c.client.get("/api/v1/templates/\(templateId)", token: token)
        #expect(read.status == 404, "\(who) reads it: \(read.text)", sourceLocation: sourceLocation)
        let listed = try await c.client.get("/api/v1/templates?limit=500", token: token).decode(Page<Template>.self).items.map(\.id)
        #expect(!listed.contains(templateId), "\(who) lists it", sourceLocation: sourceLocation)
        let used = try await create(from: templateId, "peek-\(UUID().uuidString.prefix(6).lowercased())", token: token)
        #expect(used.status == 422 && used.problemFields == ["templateId"], "\(who) uses it: \(used.text)", sourceLocation: sourceLocation)
    }

    /// GET 200 and present in the list.
    fileprivate func expectVisible(_ templateId: UUID, to token: String, _ who: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let read = try await c.client.get("/api/v1/templates/\(templateId)", token: token)
        #expect(read.status == 200, "\(who) reads it: \(read.text)", sourceLocation: sourceLocation)
        let listed = try await c.client.get("/api/v1/templates?limit=500", token: token).decode(Page<Template>.self).items.map(\.id)
        #expect(listed.contains(templateId), "\(who) does not list it", sourceLocation: sourceLocation)
    }
}
