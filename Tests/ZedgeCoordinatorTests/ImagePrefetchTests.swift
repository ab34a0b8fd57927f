import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Warming caches before a rollout, and placement preferring the machine that already holds an image.
@Suite("Image prefetch and cache-aware placement")
struct ImagePrefetchTests {
    /// A public image with one uploaded raw version (64 KiB); returns the image, the version and the bytes.
    static func uploadedImage(_ c: TestCoordinator, _ admin: String, name: String) async throws -> (image: UUID, version: ImageVersion, bytes: Data) {
        let image = try await c.client.post("/api/v1/images", token: admin, ["name": name, "imageType": "OS_BASE", "visibility": "PUBLIC"])
        guard image.status == 201 else { throw TestFailure("image: \(image.text)") }
        let imageId = try image.decode(Image.self).id
        let version = try await c.client.post("/api/v1/images/\(imageId)/versions", token: admin, ["versionNumber": "1"])
        guard version.status == 201 else { throw TestFailure("version: \(version.text)") }
        let versionId = try version.decode(ImageVersion.self).id
        var bytes = Data(count: 64 << 10)
        bytes[4096] = 0x5A  // not all zeroes
        let upload = try await c.client.send(.PUT, "/api/v1/images/\(imageId)/versions/\(versionId)/file", token: admin,
                                             rawBody: bytes, headers: [("Content-Type", "application/octet-stream")])
        guard (200..<300).contains(upload.status) else { throw TestFailure("upload: \(upload.status) \(upload.text)") }
        let stored = try await c.client.get("/api/v1/images/\(imageId)/versions/\(versionId)", token: admin).decode(ImageVersion.self)
        return (imageId, stored, bytes)
    }

    static func heartbeat(_ c: TestCoordinator, _ credential: String, cachedImages: [String]) async throws -> APIResponse {
        let body = try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(HeartbeatRequest(
            metrics: HostMetrics(cpuUsagePercent: 10, memoryUsagePercent: 20, diskUsagePercent: 30), observedVms: [],
            agentVersion: "test", cachedImages: cachedImages))) as! [String: Any]
        return try await c.client.post("/agent/v1/heartbeat", token: credential, body)
    }

    @Test(arguments: TestEngine.all)
    func prefetchQueuesOneFetchPerMachineAndOnlyThoseAgentsMayDownload(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let (imageId, version, bytes) = try await Self.uploadedImage(c, f.admin, name: "rollout")
            let m1 = try await f.addMachine(ip: "10.12.0.1")
            let m2 = try await f.addMachine(ip: "10.12.0.2")
            let path = "/api/v1/images/\(imageId)/versions/\(version.id)/actions/prefetch"

            // Refusals: neither or both targets, an unknown machine, a USER.
            #expect(try await c.client.post(path, token: f.admin, [:]).problemFields == ["edgeDataCenterId"])
            #expect(try await c.client.post(path, token: f.admin, [
                "edgeDataCenterId": f.dataCenter.id.uuidString, "computeMachineIds": [m1.id.uuidString],
            ]).problemFields == ["computeMachineIds"])
            let unknown = try await c.client.post(path, token: f.admin, ["computeMachineIds": [m1.id.uuidString, UUID().uuidString]])
            #expect(unknown.status == 422 && unknown.problemFields == ["computeMachineIds[1]"], "\(unknown.text)")
            #expect(try await c.client.post(path, token: f.user.token, ["edgeDataCenterId": f.dataCenter.id.uuidString]).status == 403)

            // Before any fetch is leased, no agent may download the version.
            let file = ImageRef.downloadPath(versionId: version.id)
            #expect(try await c.client.get(file, token: m1.credential).status == 404)

            let accepted = try await c.client.post(path, token: f.admin, ["edgeDataCenterId": f.dataCenter.id.uuidString])
            #expect(accepted.status == 202, "\(accepted.text)")
            let operation = try accepted.decode(ZedgeCore.Operation.self)
            #expect(operation.steps.count == 2 && operation.steps.allSatisfy { $0.taskId != nil })

            // m1 leases its fetch: the payload names the version's verified file, which m1 (only) may now download.
            let tasks = try await f.lease(m1.credential)
            #expect(tasks.map(\.kind) == [.imageFetch])
            let payload = try #require(tasks.first).payload.decode(as: ImageFetchPayload.self)
            #expect(payload.image.sha256 == SHA256Hex.of(bytes) && payload.image.versionId == version.id && payload.image.sizeBytes == Int64(bytes.count))
            let download = try await c.client.get(file, token: m1.credential)
            #expect(download.status == 200 && download.body == bytes)
            #expect(try await c.client.get(file, token: m2.credential).status == 404)  // its task is not leased yet
            for task in tasks { try await f.finish(task, credential: m1.credential) }
            for task in try await f.lease(m2.credential) { try await f.finish(task, credential: m2.credential) }
            try await eventually("the prefetch operation SUCCEEDED") {
                try await c.client.get("/api/v1/operations/\(operation.id)", token: f.admin).decode(ZedgeCore.Operation.self).status == .succeeded
            }
            // Once finished, the fetch no longer opens the file to the agent.
            #expect(try await c.client.get(file, token: m1.credential).status == 404)
        }
    }

    @Test(arguments: TestEngine.all)
    func amongEqualMachinesTheOneCachingTheImageGetsTheInstance(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let (imageId, version, _) = try await Self.uploadedImage(c, f.admin, name: "cached")
            let sha = try #require(version.checksumSha256)
            let machines = [try await f.addMachine(ip: "10.13.0.1"), try await f.addMachine(ip: "10.13.0.2")]
            // The machine the ids' order would not pick reports the image in its cache.
            let holder = machines.max { $0.id.uuidString < $1.id.uuidString }!
            let beat = try await Self.heartbeat(c, holder.credential, cachedImages: [sha])
            #expect(beat.status == 200, "\(beat.text)")
            try await eventually("the cached image is stored") {
                let cached = try await c.client.get("/api/v1/compute-machines/\(holder.id)/cached-images", token: f.admin)
                return cached.text.contains(sha)
            }
            // A hash that is not one is refused, naming the entry.
            let bad = try await Self.heartbeat(c, holder.credential, cachedImages: [sha, "NOT-A-HASH"])
            #expect(bad.status == 400 && bad.problemFields == ["cachedImages[1]"], "\(bad.text)")

            let template = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "with-image", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "baseImageId": imageId.uuidString,
            ])
            #expect(template.status == 201, "\(template.text)")
            let created = try await c.client.post("/api/v1/instances", token: f.user.token, [
                "name": "near-its-image", "templateId": try template.decode(Template.self).id.uuidString,
            ])
            #expect(created.status == 202, "\(created.text)")
            let instance = try created.decode(InstanceService.Accepted.self).instance.instance
            #expect(instance.computeMachineId == holder.id)
            // The snapshot names the exact version and bits; the vm.create carries them as the root image.
            let config = try #require(try instance.config?.decode(as: ResolvedInstanceConfig.self))
            #expect(config.image?.versionId == version.id && config.image?.sha256 == sha)
            let create = try #require(try await f.lease(holder.credential).first { $0.kind == .vmCreate })
            let spec = try create.payload.decode(as: VmCreatePayload.self).spec
            #expect(spec.rootImage?.image.sha256 == sha && spec.rootImage?.sizeGb == 1)
            #expect(spec.cloudInit?.instanceId == instance.id.uuidString.lowercased() && spec.cloudInit?.localHostname == "near-its-image")
            #expect(spec.nics.isEmpty)

            // While the instance lives, the version it rebuilds from cannot be deleted.
            let deleteVersion = try await c.client.delete("/api/v1/images/\(imageId)/versions/\(version.id)", token: f.admin)
            #expect(deleteVersion.status == 409 && deleteVersion.problemFields == ["instances.config.image"], "\(deleteVersion.text)")

            // An imageVersion the image lacks, or one on a template without an image, is refused naming the field.
            let wrong = try await c.client.post("/api/v1/instances", token: f.user.token, [
                "name": "x", "templateId": try template.decode(Template.self).id.uuidString, "imageVersion": "9",
            ])
            #expect(wrong.status == 422 && wrong.problemFields == ["imageVersion"], "\(wrong.text)")
            let noImage = try await f.create("y", extra: ["imageTag": "stable"])
            #expect(noImage.status == 422 && noImage.problemFields == ["imageTag"], "\(noImage.text)")

            // An instance too small for the image names what the caller can change: the parameter that set the size,
            // else the template (whose default is too small), never a field the request does not have.
            #expect(try await c.client.patch("/api/v1/images/\(imageId)", token: f.admin, ["minStorageGb": 5, "minCpuCores": 2]).status == 200)
            let byDefault = try await c.client.post("/api/v1/instances", token: f.user.token, [
                "name": "too-small", "templateId": try template.decode(Template.self).id.uuidString,
            ])
            #expect(byDefault.status == 422 && byDefault.problemFields == ["templateId", "templateId"]
                    && byDefault.text.contains("defaultStorageGb is too small") && byDefault.text.contains("defaultCpuCores is too small")
                    && byDefault.text.contains("at least 5 GB"), "\(byDefault.text)")
            let sized = try await c.client.post("/api/v1/templates", token: f.admin, [
                "name": "sized-by-parameter", "visibility": "PUBLIC", "defaultCpuCores": 2, "defaultMemoryGb": 1, "defaultStorageGb": 10,
                "baseImageId": imageId.uuidString, "parameters": [["name": "storageGb", "type": "integer"]],
            ])
            #expect(sized.status == 201, "\(sized.text)")
            let byParameter = try await c.client.post("/api/v1/instances", token: f.user.token, [
                "name": "too-small", "templateId": try sized.decode(Template.self).id.uuidString, "parameters": ["storageGb": 2],
            ])
            #expect(byParameter.status == 422 && byParameter.problemFields == ["parameters.storageGb"] && byParameter.text.contains("at least 5 GB"),
                    "\(byParameter.text)")
        }
    }
}
