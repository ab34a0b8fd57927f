import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SQLKit
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Images through the HTTP API and the resolver instance creation calls (issue #9): visibility on read, list
/// and use; DEPRECATED/ARCHIVED refusals; immutable tags; exactly one latest and at most one default under
/// concurrent publishes; global names; and the resolver's size checks.
@Suite("Images")
struct ImageTests {
    static let raw = ImageWorld.pattern(64 << 10)

    @Test(arguments: TestEngine.all)
    func visibilityIsEnforcedOnReadListAndUse(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let w = try await ImageWorld.make(c)
            let tenantA = try await c.createTenant(w.unique("a"), token: w.admin)
            let tenantB = try await c.createTenant(w.unique("b"), token: w.admin)
            let owner = try await c.createUser(w.unique("owner"), role: .tenantAdmin, tenant: tenantA.id, token: w.admin)
            let otherAdminA = try await c.createUser(w.unique("tadmin"), role: .tenantAdmin, tenant: tenantA.id, token: w.admin)
            let member = try await c.createUser(w.unique("member"), role: .user, tenant: tenantA.id, token: w.admin)
            let colleague = try await c.createUser(w.unique("colleague"), role: .user, tenant: tenantA.id, token: w.admin)
            let stranger = try await c.createUser(w.unique("stranger"), role: .user, tenant: tenantB.id, token: w.admin)
            let strangerAdmin = try await c.createUser(w.unique("badmin"), role: .tenantAdmin, tenant: tenantB.id, token: w.admin)

            func listed(_ token: String) async throws -> Set<UUID> {
                Set(try await c.client.get("/api/v1/images?limit=500", token: token).decode(Page<Image>.self).items.map(\.id))
            }
            func use(_ imageId: UUID, _ user: User) async throws -> DomainError? {
                let outcome = Outcome()
                try await w.withService { service in
                    do {
                        _ = try await service.resolveForInstance(imageId: imageId, imageVersion: nil, imageTag: nil,
                                                                 principal: ImageWorld.principal(user), cpuCores: 2, memoryGb: 2, storageGb: 10)
                    } catch let error as DomainError {
                        outcome.error.withLock { $0 = error }
                    }
                }
                return outcome.error.withLock { $0 }
            }
            func expectInvisible(_ image: Image, _ who: String, _ token: String, _ user: User) async throws {
                let read = try await c.client.get("/api/v1/images/\(image.id)", token: token)
                #expect(read.status == 404, "\(who) reads \(image.name): \(read.status) \(read.text)")
                #expect(!(try await listed(token)).contains(image.id), "\(who) lists \(image.name)")
                #expect(try await use(image.id, user)?.kind == .notFound, "\(who) uses \(image.name)")
                let versions = try await c.client.get("/api/v1/images/\(image.id)/versions", token: token)
                #expect(versions.status == 404, "\(who) lists the versions of \(image.name): \(versions.status)")
                let patch = try await c.client.patch("/api/v1/images/\(image.id)", token: token, ["description": "x"])
                #expect(patch.status == 404, "\(who) changes \(image.name): \(patch.status)")
            }
            func expectVisible(_ image: Image, _ who: String, _ token: String, _ user: User) async throws {
                let read = try await c.client.get("/api/v1/images/\(image.id)", token: token)
                #expect(read.status == 200, "\(who) reads \(image.name): \(read.status) \(read.text)")
                #expect(try await listed(token).contains(image.id), "\(who) lists \(image.name)")
                #expect(try await use(image.id, user) == nil, "\(who) uses \(image.name)")
            }

            // PRIVATE, made by tenant A's TENANT_ADMIN: its owner, A's TENANT_ADMINs and ADMIN only.
            let privateImage = try await w.image("private-i", token: owner.token, ["visibility": "PRIVATE"])
            #expect(privateImage.tenantId == tenantA.id && privateImage.ownerId == owner.user.id)
            _ = try await w.versionWithFile(privateImage.id, "v1", Self.raw)
            for (who, caller) in [("a USER of tenant B", stranger), ("a USER of tenant A", colleague), ("a TENANT_ADMIN of tenant B", strangerAdmin)] {
                try await expectInvisible(privateImage, who, caller.token, caller.user)
            }
            try await expectVisible(privateImage, "its owner", owner.token, owner.user)
            try await expectVisible(privateImage, "another TENANT_ADMIN of tenant A", otherAdminA.token, otherAdminA.user)
            // A template may not name an image its creator cannot use.
            let foreign = try await c.client.post("/api/v1/templates", token: strangerAdmin.token, [
                "name": "t", "visibility": "PRIVATE", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 10,
                "baseImageId": privateImage.id.uuidString,
            ])
            #expect(foreign.status == 422 && foreign.problemFields == ["baseImageId"], "\(foreign.text)")
            let own = try await c.client.post("/api/v1/templates", token: owner.token, [
                "name": "t", "visibility": "PRIVATE", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 10,
                "baseImageId": privateImage.id.uuidString,
            ])
            #expect(own.status == 201, "\(own.text)")
            let ownTemplate = try own.decode(Template.self)
            let republished = try await c.client.post("/api/v1/templates/\(ownTemplate.id)/versions", token: owner.token, [
                "versionNumber": "v2", "config": ["cpuCores": 1, "memoryGb": 1, "storageGb": 10, "baseImageId": UUID().uuidString],
            ])
            #expect(republished.status == 422 && republished.problemFields == ["config.baseImageId"], "\(republished.text)")

            // PUBLIC: everyone's, in any tenant; only its managers change it.
            let publicImage = try await w.image("public-i", token: owner.token)
            _ = try await w.versionWithFile(publicImage.id, "v1", Self.raw)
            try await expectVisible(publicImage, "a USER of tenant B", stranger.token, stranger.user)
            let notMine = try await c.client.patch("/api/v1/images/\(publicImage.id)", token: strangerAdmin.token, ["description": "x"])
            #expect(notMine.status == 403, "\(notMine.text)")
            let userPatch = try await c.client.patch("/api/v1/images/\(publicImage.id)", token: colleague.token, ["description": "x"])
            #expect(userPatch.status == 403, "a USER may not change images: \(userPatch.text)")

            // GROUP_SPECIFIC: the members of its groups see and use it; other users of the tenant do not.
            let group = try await c.client.post("/api/v1/user-groups", token: w.admin, ["name": "builders", "tenantId": tenantA.id.uuidString])
                .decode(UserGroup.self)
            #expect(try await c.client.post("/api/v1/user-groups/\(group.id)/members", token: w.admin,
                                            ["userId": member.user.id.uuidString]).status == 201)
            for groupIds in [nil, [String]()] as [[String]?] {
                var extra: [String: Any] = ["visibility": "GROUP_SPECIFIC"]
                if let groupIds { extra["groupIds"] = groupIds }
                let refused = try await w.createImage("nogroups", token: owner.token, extra)
                #expect(refused.status == 422 && refused.problemFields == ["groupIds"], "\(refused.text)")
            }
            let created = try await w.createImage("group-i", token: owner.token, ["visibility": "GROUP_SPECIFIC", "groupIds": [group.id.uuidString]])
            #expect(created.status == 201, "\(created.text)")
            #expect(try created.decode(ImageView.self).groupIds == [group.id])
            let groupImage = try created.decode(Image.self)
            _ = try await w.versionWithFile(groupImage.id, "v1", Self.raw)
            try await expectVisible(groupImage, "a member of its group", member.token, member.user)
            try await expectInvisible(groupImage, "a USER of tenant A outside the group", colleague.token, colleague.user)
            try await expectInvisible(groupImage, "a USER of tenant B", stranger.token, stranger.user)
            #expect(try await c.client.delete("/api/v1/user-groups/\(group.id)/members/\(member.user.id)", token: w.admin).status == 204)
            try await expectInvisible(groupImage, "a former member of its group", member.token, member.user)

            // Downloads follow reading.
            let versions = try await c.client.get("/api/v1/images/\(privateImage.id)/versions", token: owner.token).decode(Page<ImageVersion>.self)
            let file = w.filePath(privateImage.id, try #require(versions.items.first).id)
            #expect(try await w.fetch(file, token: owner.token).status == 200)
            #expect(try await w.fetch(file, token: stranger.token).status == 404)
            #expect(try await w.fetch(file, token: stranger.token, method: .HEAD).status == 404)
        }
    }

    /// The resolver, tags, concurrent publishes and global names share one coordinator per engine: every
    /// coordinator costs bcrypt runs, and the whole suite shares one bcrypt thread.
    @Test(arguments: TestEngine.all)
    func versionsTagsNamesAndTheResolver(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let w = try await ImageWorld.make(c)
            try await theResolverPicksAVersionAndRefusesDeprecatedOnesAndSmallInstances(c, w)
            try await anImmutableTagNeverMoves(c, w)
            try await exactlyOneLatestAndAtMostOneDefaultUnderConcurrentPublishes(c, w)
            try await globalNamesAreUniqueForImagesAndTemplates(c, w)
        }
    }

    func theResolverPicksAVersionAndRefusesDeprecatedOnesAndSmallInstances(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let tenant = try await c.createTenant(w.unique("t"), token: w.admin)
        let user = try await c.createUser(w.unique("u"), role: .user, tenant: tenant.id, token: w.admin)
        let image = try await w.image("debian", ["minCpuCores": 2, "minMemoryGb": 2, "minStorageGb": 5])
        // A recommended size below the minimum is refused, on create and on a PATCH of either side, changing nothing.
        let contradictory = try await w.createImage(w.unique("odd"), ["minCpuCores": 4, "recommendedCpuCores": 2,
                                                                    "minMemoryGb": 8, "recommendedMemoryGb": 4])
        #expect(contradictory.status == 422 && contradictory.problemFields == ["recommendedCpuCores", "recommendedMemoryGb"],
                "\(contradictory.text)")
        let lowered = try await c.client.patch("/api/v1/images/\(image.id)", token: w.admin, ["recommendedMemoryGb": 1])
        #expect(lowered.status == 422 && lowered.problemFields == ["recommendedMemoryGb"], "\(lowered.text)")
        #expect(try await c.client.patch("/api/v1/images/\(image.id)", token: w.admin, ["recommendedCpuCores": 4]).status == 200)
        let raised = try await c.client.patch("/api/v1/images/\(image.id)", token: w.admin, ["minCpuCores": 8])
        #expect(raised.status == 422 && raised.problemFields == ["recommendedCpuCores"], "\(raised.text)")
        let kept = try await c.client.get("/api/v1/images/\(image.id)", token: w.admin).decode(Image.self)
        #expect(kept.minCpuCores == 2 && kept.recommendedCpuCores == 4 && kept.recommendedMemoryGb == nil)
        let v1 = try await w.versionWithFile(image.id, "v1", Self.raw, ["isDefault": true])
        let v2 = try await w.versionWithFile(image.id, "v2", qcow2Header(size: 20 << 30))
        let v3 = try await w.version(image.id, "v3")  // no file yet: the latest
        #expect(v2.diskFormat == .qcow2 && v2.virtualSizeBytes == 20 << 30)
        #expect(try await c.client.post("/api/v1/images/\(image.id)/tags", token: w.admin,
                                        ["tagName": "stable", "versionId": v2.id.uuidString]).status == 201)

        struct Ask: Sendable {
            var version: String? = nil
            var tag: String? = nil
            var cpu = 4, memory = 4, storage = 40
        }
        let principal = ImageWorld.principal(user.user)
        func resolve(_ ask: Ask) async throws -> Result<ImageService.ResolvedImage, DomainError> {
            let outcome = Outcome()
            try await w.withService { service in
                do {
                    let resolved = try await service.resolveForInstance(
                        imageId: image.id, imageVersion: ask.version, imageTag: ask.tag, principal: principal,
                        cpuCores: ask.cpu, memoryGb: ask.memory, storageGb: ask.storage)
                    outcome.resolved.withLock { $0 = resolved }
                } catch let error as DomainError {
                    outcome.error.withLock { $0 = error }
                }
            }
            if let error = outcome.error.withLock({ $0 }) { return .failure(error) }
            return .success(try #require(outcome.resolved.withLock { $0 }))
        }
        func refused(_ ask: Ask, _ kind: DomainError.Kind, _ fields: [String], mentioning text: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
            switch try await resolve(ask) {
            case .success(let resolved): Issue.record("\(ask) resolved to \(resolved.version.versionNumber)", sourceLocation: sourceLocation)
            case .failure(let error):
                #expect(error.kind == kind, "\(ask): \(error)", sourceLocation: sourceLocation)
                #expect(error.errors.map(\.field) == fields, "\(ask): \(error)", sourceLocation: sourceLocation)
                if let text { #expect((error.message + error.errors.map(\.message).joined()).contains(text), "\(error)", sourceLocation: sourceLocation) }
            }
        }

        // The default version first, then the latest; or what the caller names.
        let chosen = try await resolve(Ask()).get()
        #expect(chosen.version.id == v1.id)
        #expect(chosen.ref == ImageRef(imageId: image.id, versionId: v1.id, sha256: ImageWorld.sha256(Self.raw),
                                       sizeBytes: Int64(Self.raw.count), virtualSizeBytes: Int64(Self.raw.count), format: .raw))
        #expect(try await resolve(Ask(version: "v2")).get().version.id == v2.id)
        #expect(try await resolve(Ask(tag: "stable")).get().ref.format == .qcow2)
        try await refused(Ask(version: "v9"), .invalid, ["imageVersion"])
        try await refused(Ask(tag: "nope"), .invalid, ["imageTag"])
        try await refused(Ask(version: "v1", tag: "stable"), .invalid, ["imageTag"])
        try await refused(Ask(version: "v3"), .invalid, ["imageVersion"], mentioning: "no file")
        #expect(try await c.client.patch("/api/v1/images/\(image.id)/versions/\(v1.id)", token: w.admin, ["isDefault": false]).status == 200)
        try await refused(Ask(), .invalid, ["imageVersion"], mentioning: "no file")  // the latest, v3, has none

        // Too small for the image: each field named; a disk smaller than the image's virtual size too.
        try await refused(Ask(version: "v1", cpu: 1, memory: 1, storage: 1), .invalid, ["cpuCores", "memoryGb", "storageGb"])
        try await refused(Ask(version: "v2", storage: 10), .invalid, ["storageGb"], mentioning: "20 GB")
        #expect(try await resolve(Ask(version: "v2", storage: 20)).get().version.id == v2.id)

        // DEPRECATED and ARCHIVED versions and images take no new instances (409 naming the status).
        for status in ["DEPRECATED", "ARCHIVED"] {
            #expect(try await c.client.patch("/api/v1/images/\(image.id)/versions/\(v1.id)", token: w.admin, ["status": status]).status == 200)
            try await refused(Ask(version: "v1"), .conflict, ["imageVersion"], mentioning: status)
            #expect(try await c.client.patch("/api/v1/images/\(image.id)", token: w.admin, ["status": status]).status == 200)
            try await refused(Ask(version: "v2"), .conflict, ["imageId"], mentioning: status)
            let template = try await c.client.post("/api/v1/templates", token: w.admin, [
                "name": w.unique("t"), "visibility": "PUBLIC", "defaultCpuCores": 2, "defaultMemoryGb": 2, "defaultStorageGb": 20,
                "baseImageId": image.id.uuidString,
            ])
            #expect(template.status == 422 && template.problemFields == ["baseImageId"], "\(template.text)")
            #expect(try await c.client.patch("/api/v1/images/\(image.id)", token: w.admin, ["status": "ACTIVE"]).status == 200)
        }
        #expect(try await resolve(Ask(version: "v2", storage: 20)).get().version.id == v2.id, "ACTIVE again")
        _ = v3
    }

    func anImmutableTagNeverMoves(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let image = try await w.image("tagged")
        let other = try await w.image("other-tagged")
        let v1 = try await w.version(image.id, "v1")
        let v2 = try await w.version(image.id, "v2")
        let foreign = try await w.version(other.id, "v1")
        let tags = "/api/v1/images/\(image.id)/tags"

        let stable = try await c.client.post(tags, token: w.admin, ["tagName": "stable", "versionId": v1.id.uuidString, "isImmutable": true])
        #expect(stable.status == 201, "\(stable.text)")
        #expect(try stable.decode(ImageTag.self).isImmutable)
        let twice = try await c.client.post(tags, token: w.admin, ["tagName": "stable", "versionId": v2.id.uuidString])
        #expect(twice.status == 409 && twice.problemFields == ["tagName"], "\(twice.text)")
        let elsewhere = try await c.client.post(tags, token: w.admin, ["tagName": "x", "versionId": foreign.id.uuidString])
        #expect(elsewhere.status == 422 && elsewhere.problemFields == ["versionId"], "\(elsewhere.text)")
        let badName = try await c.client.post(tags, token: w.admin, ["tagName": "-bad name", "versionId": v1.id.uuidString])
        #expect(badName.status == 400 && badName.problemFields == ["tagName"], "\(badName.text)")

        // Not moved, not made mutable again, not deleted, and its version is not deleted under it.
        for change in [["versionId": v2.id.uuidString], ["isImmutable": false]] as [[String: Any]] {
            let moved = try await c.client.patch("\(tags)/stable", token: w.admin, change)
            #expect(moved.status == 409 && moved.problemFields == ["tagName"], "\(change): \(moved.text)")
        }
        #expect(try await c.client.patch("\(tags)/stable", token: w.admin, ["versionId": v1.id.uuidString]).status == 200,
                "pointing it where it points is no move")
        let deleted = try await c.client.delete("\(tags)/stable", token: w.admin)
        #expect(deleted.status == 409 && deleted.problemFields == ["tagName"], "\(deleted.text)")
        let versionDelete = try await c.client.delete("/api/v1/images/\(image.id)/versions/\(v1.id)", token: w.admin)
        #expect(versionDelete.status == 409 && versionDelete.problemFields == ["imageTags.versionId"], "\(versionDelete.text)")
        let still = try await c.client.get("\(tags)/stable", token: w.admin).decode(ImageTag.self)
        #expect(still.versionId == v1.id && still.isImmutable)

        // A mutable tag moves, becomes immutable, and is deleted while it is mutable.
        #expect(try await c.client.post(tags, token: w.admin, ["tagName": "edge", "versionId": v1.id.uuidString]).status == 201)
        let moved = try await c.client.patch("\(tags)/edge", token: w.admin, ["versionId": v2.id.uuidString])
        #expect(try moved.status == 200 && moved.decode(ImageTag.self).versionId == v2.id, "\(moved.text)")
        let cross = try await c.client.patch("\(tags)/edge", token: w.admin, ["versionId": foreign.id.uuidString])
        #expect(cross.status == 422 && cross.problemFields == ["versionId"], "\(cross.text)")
        #expect(try await c.client.get("\(tags)?versionId=\(v2.id)", token: w.admin).decode(Page<ImageTag>.self).items.map(\.tagName) == ["edge"])
        #expect(try await c.client.delete("\(tags)/edge", token: w.admin).status == 204)
        #expect(try await c.client.get("\(tags)/edge", token: w.admin).status == 404)
        #expect(try await c.client.get(tags, token: w.admin).decode(Page<ImageTag>.self).items.map(\.tagName) == ["stable"])
    }

    func exactlyOneLatestAndAtMostOneDefaultUnderConcurrentPublishes(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let image = try await w.image("busy")
        let versions = "/api/v1/images/\(image.id)/versions"
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<10 {
                group.addTask { try await c.client.post(versions, token: w.admin, ["versionNumber": "v\(i)", "isDefault": true]).status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 201, count: 10))
        func all() async throws -> [ImageVersion] {
            try await c.client.get("\(versions)?limit=500", token: w.admin).decode(Page<ImageVersion>.self).items
        }
        var published = try await all()
        #expect(published.count == 10)
        #expect(published.filter(\.isLatest).count == 1, "\(published.map { ($0.versionNumber, $0.isLatest) })")
        #expect(published.filter(\.isDefault).count == 1, "\(published.map { ($0.versionNumber, $0.isDefault) })")

        // Concurrent default changes leave one default.
        let changes = try await withThrowingTaskGroup(of: Int.self) { group in
            for version in published {
                group.addTask { try await c.client.patch("\(versions)/\(version.id)", token: w.admin, ["isDefault": true]).status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(changes == Array(repeating: 200, count: 10))
        #expect(try await all().filter(\.isDefault).count == 1)

        // The same number published concurrently: one 201, the others 409 naming versionNumber.
        let same = try await withThrowingTaskGroup(of: APIResponse.self) { group in
            for _ in 0..<5 { group.addTask { try await c.client.post(versions, token: w.admin, ["versionNumber": "v-same"]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(same.filter { $0.status == 201 }.count == 1, "\(same.map(\.status))")
        for refused in same where refused.status != 201 {
            #expect(refused.status == 409 && refused.problemFields == ["versionNumber"], "\(refused.text)")
        }
        published = try await all()
        let latest = try #require(published.first { $0.isLatest })
        #expect(latest.versionNumber == "v-same" && published.filter(\.isLatest).count == 1)

        // Deleting the latest makes the newest remaining one latest.
        #expect(try await c.client.delete("\(versions)/\(latest.id)", token: w.admin).status == 204)
        published = try await all()
        #expect(published.filter(\.isLatest).map(\.id) == [try #require(published.map(\.id).max())])

        // The engine holds the rule too: a second latest or default written behind the service's back fails.
        let url = try #require(c.configuration.databaseURL)
        let ids = published.map(\.id)
        try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
            for column in ["is_latest", "is_default"] {
                do {
                    try await database.sql.update("image_versions").set(SQLIdentifier(column), to: SQLBind(true))
                        .where("id", .in, ids).run()
                    Issue.record("two versions became \(column)")
                } catch {
                    let mapped = ConstraintViolation.map(error, resource: "image version", operation: .write)
                    #expect((mapped as? DomainError)?.kind == .conflict, "\(String(reflecting: error))")
                }
            }
        }
    }

    func globalNamesAreUniqueForImagesAndTemplates(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        _ = try await w.image("shared")
        let again = try await w.createImage("shared", ["visibility": "PRIVATE"])
        #expect(again.status == 409 && again.problemFields == ["name"], "\(again.text)")
        // Within tenants, as before: one name per tenant, the same name in two tenants.
        let a = try await c.createTenant(w.unique("a"), token: w.admin), b = try await c.createTenant(w.unique("b"), token: w.admin)
        #expect(try await w.createImage("shared", ["tenantId": a.id.uuidString]).status == 201)
        #expect(try await w.createImage("shared", ["tenantId": b.id.uuidString]).status == 201)
        let inA = try await w.createImage("shared", ["tenantId": a.id.uuidString])
        #expect(inA.status == 409 && inA.problemFields == ["name"], "\(inA.text)")
        let renamed = try await w.image("to-rename")
        let rename = try await c.client.patch("/api/v1/images/\(renamed.id)", token: w.admin, ["name": "shared"])
        #expect(rename.status == 409 && rename.problemFields == ["name"], "\(rename.text)")

        let template: [String: Any] = ["name": "base", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 10]
        #expect(try await c.client.post("/api/v1/templates", token: w.admin, template).status == 201)
        let twice = try await c.client.post("/api/v1/templates", token: w.admin, template)
        #expect(twice.status == 409 && twice.problemFields == ["name"], "two PUBLIC global templates named alike: \(twice.text)")
        var scoped = template
        scoped["tenantId"] = a.id.uuidString
        #expect(try await c.client.post("/api/v1/templates", token: w.admin, scoped).status == 201)
    }

    /// SchemaV3 builds its unique indexes over data that an older coordinator let through: global duplicates
    /// are renamed (all but the oldest), so the migration applies.
    @Test(arguments: TestEngine.all)
    func theMigrationRenamesGlobalDuplicates(engine: TestEngine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let url = try await engine.makeDatabaseURL(in: directory)
        try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
            let logger = Logger(label: "test")
            try await Migrator(migrations: [SchemaV1.migration, SchemaV2.migration]).migrate(database, logger: logger)
            let store = Store(database: database)
            let user = User(username: "owner", email: "owner@example.com", role: .admin, status: .active)
            try await store.users.insert(user, passwordHash: "x")
            let templates = (0..<3).map { _ in
                Template(name: "dup", defaultCpuCores: 1, defaultMemoryGb: 1, defaultStorageGb: 1, visibility: .public, ownerId: user.id)
            }
            for template in templates { try await Tables.templates.insert(template, on: database.sql) }
            #expect(try await Migrator().migrate(database, logger: logger).contains(3))
            let names = try await database.sql.select().column("id").column("name").from("templates").orderBy("id").all()
                .map { try $0.decode(column: "name", as: String.self) }
            #expect(names.first == "dup")
            #expect(Set(names).count == 3, "\(names)")
            #expect(names.dropFirst().allSatisfy { $0.hasPrefix("dup-") }, "\(names)")
        }
    }
}

/// What a closure run under `withService` learned (Sendable boxes).
final class Outcome: Sendable {
    let error = Mutex<DomainError?>(nil)
    let resolved = Mutex<ImageService.ResolvedImage?>(nil)
}
