import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Image files (issue #9, item 2): uploads streamed into the content-addressed store with their checksums,
/// sizes and format; what is refused and that a refusal or an interrupted upload leaves nothing; downloads
/// with Range for users and for agents whose leased tasks name the version.
@Suite("Image files")
struct ImageFileTests {
    /// Uploads, refusals, an interrupted upload and downloads share one coordinator per engine (every
    /// coordinator costs bcrypt runs, and the whole suite shares one bcrypt thread).
    @Test(arguments: TestEngine.all)
    func uploadsRefusalsInterruptionsAndDownloads(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let w = try await ImageWorld.make(c)
            try await uploadsAreHashedInspectedAndStoredOnceByContent(c, w)
            try await otherFormatsAndUnsafeQcow2AreRefusedAndLeaveNothing(c, w)
            try await anInterruptedUploadLeavesNothing(c, w)
            try await downloadsServeRangesAndHead(c, w)
        }
    }

    func uploadsAreHashedInspectedAndStoredOnceByContent(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let image = try await w.image("disk")
        let raw = ImageWorld.pattern(3 << 20)
        let v1 = try await w.version(image.id, "v1")
        let uploaded = try await w.upload(image.id, v1.id, raw)
        #expect(uploaded.status == 200, "\(uploaded.text)")
        let stored = try uploaded.decode(ImageVersion.self)
        let sha = ImageWorld.sha256(raw)
        #expect(stored.checksumSha256 == sha)
        #expect(stored.checksumMd5?.count == 32)
        #expect(stored.sizeBytes == Int64(raw.count) && stored.virtualSizeBytes == Int64(raw.count) && stored.diskFormat == .raw)
        #expect(stored.imageRef?.sha256 == sha)
        #expect(try w.storedFiles() == ["sha256/\(sha.prefix(2))/\(sha)"])
        #expect(try await c.client.get("/api/v1/images/\(image.id)/versions/\(v1.id)", token: w.admin).decode(ImageVersion.self) == stored)

        // A version gets its file once.
        let again = try await w.upload(image.id, v1.id, ImageWorld.pattern(4096, seed: 1))
        #expect(again.status == 409 && again.problemFields == ["file"], "\(again.text)")
        #expect(try w.storedFiles() == ["sha256/\(sha.prefix(2))/\(sha)"])

        // A qcow2 is read from its header.
        let qcow = try await w.versionWithFile(image.id, "q1", qcow2Header(size: 8 << 30))
        #expect(qcow.diskFormat == .qcow2 && qcow.virtualSizeBytes == 8 << 30 && qcow.sizeBytes == 3 << 16)

        // The same bytes for another version: one file, kept until no version names it.
        let v2 = try await w.versionWithFile(image.id, "v2", raw)
        #expect(v2.checksumSha256 == sha)
        #expect(try w.storedFiles().count == 2)
        #expect(try await c.client.delete("/api/v1/images/\(image.id)/versions/\(v1.id)", token: w.admin).status == 204)
        #expect(try w.storedFiles().contains("sha256/\(sha.prefix(2))/\(sha)"))
        #expect(try await w.fetch(w.filePath(image.id, v2.id), token: w.admin).body == Data(raw))
        #expect(try await c.client.delete("/api/v1/images/\(image.id)/versions/\(v2.id)", token: w.admin).status == 204)
        #expect(!(try w.storedFiles().contains("sha256/\(sha.prefix(2))/\(sha)")))
        // Deleting the image takes the rest.
        #expect(try await c.client.delete("/api/v1/images/\(image.id)", token: w.admin).status == 204)
        #expect(try w.storedFiles().isEmpty)
    }

    func otherFormatsAndUnsafeQcow2AreRefusedAndLeaveNothing(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let image = try await w.image("refusals")
        func at(_ offset: Int, _ magic: String, size: Int = 1 << 17) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: size)
            b.replaceSubrange(offset..<(offset + magic.utf8.count), with: Array(magic.utf8))
            return b
        }
        let cases: [(String, [UInt8], String)] = [
            ("VMDK", at(0, "KDMV"), "VMDK"),
            ("VHD", at(0, "conectix"), "VHD"),
            ("fixed VHD", at((1 << 17) - 512, "conectix"), "VHD"),
            ("VHDX", at(0, "vhdxfile"), "VHDX"),
            ("VDI", { var b = [UInt8](repeating: 0, count: 1 << 17); b.replaceSubrange(64..<68, with: [0x7F, 0x10, 0xDA, 0xBE]); return b }(), "VDI"),
            ("ISO 9660", at(0x8001, "CD001"), "ISO 9660"),
            ("qcow2 with a backing file", qcow2Header(backingFileOffset: 0x200), "backing file"),
            ("qcow2 with an external data file", qcow2Header(incompatible: 1 << 2), "external data file"),
            ("qcow2 naming a data file", qcow2Header(extensions: [(0x4441_5441, Array("/dev/sda".utf8))]), "external data file"),
            ("raw of 1000 bytes", ImageWorld.pattern(1000), "multiple of 512"),
            ("an empty body", [], "empty"),
        ]
        for (index, (what, bytes, mentions)) in cases.enumerated() {
            let version = try await w.version(image.id, "r\(index)")
            let refused = try await w.upload(image.id, version.id, bytes)
            #expect(refused.status == 422, "\(what): \(refused.status) \(refused.text)")
            #expect(refused.problemFields == ["file"], "\(what): \(refused.text)")
            #expect(refused.headers.first(name: "Content-Type") == "application/problem+json")
            #expect(refused.text.contains(mentions), "\(what): \(refused.text)")
            let after = try await c.client.get("/api/v1/images/\(image.id)/versions/\(version.id)", token: w.admin).decode(ImageVersion.self)
            #expect(!after.hasFile && after.checksumMd5 == nil, "\(what) left a file on the version")
            let left = try w.storedFiles()
            #expect(left.isEmpty, "\(what) left \(left)")
        }
    }

    @Test(arguments: TestEngine.all)
    func aBodyOverTheLimitIs413(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: { $0.imageMaxUploadBytes = 1 << 20 }) { c in
            let w = try await ImageWorld.make(c)
            let image = try await w.image("big")
            let version = try await w.version(image.id, "v1")
            // Declared too large: refused before reading.
            let declared = try await w.upload(image.id, version.id, ImageWorld.pattern(2 << 20))
            #expect(declared.status == 413 && declared.problemFields == ["file"], "\(declared.text)")
            // Not declared (chunked): refused once the limit is passed.
            let streamed = try await w.put(w.filePath(image.id, version.id), token: w.admin,
                                           body: .stream(RepeatedBody(chunk: ByteBuffer(bytes: ImageWorld.pattern(64 << 10)), count: 32),
                                                         length: .unknown))
            #expect(streamed.status == 413 && streamed.problemFields == ["file"], "\(streamed.text)")
            #expect(try w.storedFiles().isEmpty)
            // Exactly at the limit is fine.
            let fits = try await w.upload(image.id, version.id, ImageWorld.pattern(1 << 20))
            #expect(fits.status == 200, "\(fits.text)")
        }
    }

    /// The client goes away halfway through the body: no file in the store (not even while the upload ran),
    /// and the version still has no file, so a later upload works.
    func anInterruptedUploadLeavesNothing(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let image = try await w.image("interrupted")
        let version = try await w.version(image.id, "v1")
        let total = 8 << 20
        let halfway = AsyncStream<Void>.makeStream()
        let resume = AsyncStream<Void>.makeStream()
        let body = HalfBody(chunk: ByteBuffer(bytes: ImageWorld.pattern(256 << 10)), chunks: 16, halfway: halfway.continuation,
                            resume: resume.stream)
        let upload = Task {
            try await w.put(w.filePath(image.id, version.id), token: w.admin, body: .stream(body, length: .known(Int64(total))))
        }
        var reached = halfway.stream.makeAsyncIterator()
        _ = await reached.next()
        // Half the body is on the server; the file being written has no name yet.
        try await Task.sleep(for: .milliseconds(300))
        let named = try w.storedFiles()
        #expect(named.isEmpty, "\(named)")
        resume.continuation.finish()  // the body now fails: the client drops the connection
        let outcome = await upload.result
        if case .success(let response) = outcome { Issue.record("the broken upload was answered \(response.status) \(response.text)") }

        try await eventually("no file left and the version without a file") {
            let after = try await c.client.get("/api/v1/images/\(image.id)/versions/\(version.id)", token: w.admin).decode(ImageVersion.self)
            return try w.storedFiles().isEmpty && !after.hasFile
        }
        let retried = try await w.upload(image.id, version.id, ImageWorld.pattern(1 << 20))
        #expect(retried.status == 200, "\(retried.text)")
    }

    func downloadsServeRangesAndHead(_ c: TestCoordinator, _ w: ImageWorld) async throws {
        let image = try await w.image("ranged")
        let raw = ImageWorld.pattern(1 << 20)
        let version = try await w.versionWithFile(image.id, "v1", raw)
        let path = w.filePath(image.id, version.id)
        let etag = "\"\(ImageWorld.sha256(raw))\""
        let size = raw.count

        let whole = try await w.fetch(path, token: w.admin)
        #expect(whole.status == 200 && whole.body == Data(raw))
        #expect(whole.headers.first(name: "ETag") == etag)
        #expect(whole.headers.first(name: "Accept-Ranges") == "bytes")
        #expect(whole.headers.first(name: "Content-Length") == "\(size)")

        for (range, bytes) in [("bytes=0-99", 0...99), ("bytes=1048000-", 1_048_000...(size - 1)), ("bytes=-100", (size - 100)...(size - 1)),
                               ("bytes=1000-2000000", 1000...(size - 1))] {
            let part = try await w.fetch(path, token: w.admin, headers: [("Range", range)])
            #expect(part.status == 206, "\(range): \(part.status)")
            #expect(part.body == Data(raw[bytes]), "\(range)")
            #expect(part.headers.first(name: "Content-Range") == "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(size)", "\(range)")
        }
        let beyond = try await w.fetch(path, token: w.admin, headers: [("Range", "bytes=2000000-")])
        #expect(beyond.status == 416 && beyond.headers.first(name: "Content-Range") == "bytes */\(size)")
        // Several ranges, or an If-Range for other bytes: the whole file.
        #expect(try await w.fetch(path, token: w.admin, headers: [("Range", "bytes=0-1,5-9")]).status == 200)
        #expect(try await w.fetch(path, token: w.admin, headers: [("Range", "bytes=0-1"), ("If-Range", "\"other\"")]).status == 200)
        #expect(try await w.fetch(path, token: w.admin, headers: [("Range", "bytes=0-1"), ("If-Range", etag)]).status == 206)
        #expect(try await w.fetch(path, token: w.admin, headers: [("If-None-Match", etag)]).status == 304)

        let head = try await w.fetch(path, token: w.admin, method: .HEAD)
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers.first(name: "Content-Length") == "\(size)" && head.headers.first(name: "ETag") == etag)
        // The connection still serves the next request after HEADs that answered with and without a problem.
        #expect(try await w.fetch(w.filePath(image.id, UUID()), token: w.admin, method: .HEAD).status == 404)
        #expect(try await w.fetch(path, token: w.admin, headers: [("Range", "bytes=0-9")]).body == Data(raw[0...9]))

        // A version without a file has nothing to download.
        let empty = try await w.version(image.id, "v2")
        #expect(try await w.fetch(w.filePath(image.id, empty.id), token: w.admin).status == 404)
    }

    /// An agent downloads only what a task leased to it names: `image.fetch`'s `image.versionId` or
    /// `vm.create`'s `spec.rootImage.image.versionId`. Anything else is a 404, as is a queued or finished task.
    @Test(arguments: TestEngine.all)
    func agentsDownloadOnlyVersionsTheirLeasedTasksName(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine, configure: InstanceFixture.patient) { c in
            let f = try await InstanceFixture.make(c)
            let w = ImageWorld(c: c, admin: f.admin)
            let hostA = try await f.addMachine(ip: "10.90.0.1")
            let hostB = try await f.addMachine(ip: "10.90.0.2")
            let image = try await w.image("agent-image")
            let raw = ImageWorld.pattern(1 << 20)
            let v1 = try await w.versionWithFile(image.id, "v1", raw)
            let v2 = try await w.versionWithFile(image.id, "v2", ImageWorld.pattern(1 << 20, seed: 9))
            let ref1 = try #require(v1.imageRef), ref2 = try #require(v2.imageRef)
            #expect(ref1.downloadPath == "/agent/v1/image-versions/\(v1.id.uuidString.lowercased())/file")

            #expect(try await w.fetch(ref1.downloadPath, token: hostA.credential).status == 404, "no task names it")
            let queued = try await c.client.post("/api/v1/compute-machines/\(hostA.id)/tasks", token: f.admin, [
                "kind": "image.fetch", "payload": try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(ImageFetchPayload(image: ref1))),
            ])
            #expect(queued.status == 202, "\(queued.text)")
            #expect(try await w.fetch(ref1.downloadPath, token: hostA.credential).status == 404, "queued, not leased")
            let leased = try await f.lease(hostA.credential)
            #expect(leased.map(\.kind) == [.imageFetch])
            try await f.acknowledge(leased[0], credential: hostA.credential)

            let whole = try await w.fetch(ref1.downloadPath, token: hostA.credential)
            #expect(whole.status == 200 && whole.body == Data(raw))
            #expect(whole.headers.first(name: "ETag") == "\"\(ref1.sha256)\"")
            let resumed = try await w.fetch(ref1.downloadPath, token: hostA.credential, headers: [("Range", "bytes=524288-")])
            #expect(resumed.status == 206 && resumed.body == Data(raw[524_288...]))
            let head = try await w.fetch(ref1.downloadPath, token: hostA.credential, method: .HEAD)
            #expect(head.status == 200, "HEAD: \(head.status) \(head.text)")
            #expect(try await w.fetch(ref2.downloadPath, token: hostA.credential).status == 404, "another version")
            #expect(try await w.fetch(ref1.downloadPath, token: hostB.credential).status == 404, "another host")
            #expect(try await w.fetch(ImageRef.downloadPath(versionId: UUID()), token: hostA.credential).status == 404)
            #expect(try await w.fetch(ref1.downloadPath, token: f.admin).status == 401, "a user's token is no agent credential")

            try await f.finish(leased[0], credential: hostA.credential)
            #expect(try await w.fetch(ref1.downloadPath, token: hostA.credential).status == 404, "the task has finished")

            // vm.create with a root image names its version too.
            let spec = VmSpec(name: "fetch-vm", uuid: UUID(), vcpus: 1, memoryMiB: 128,
                              rootDisk: DiskSpec(source: .volume(pool: VmSpec.diskPool, name: VmSpec.rootVolumeName(vmName: "fetch-vm")),
                                                 target: "vda", format: .qcow2),
                              rootImage: RootImageSpec(image: ref2, sizeGb: 10))
            let create = try await c.client.post("/api/v1/compute-machines/\(hostB.id)/tasks", token: f.admin, [
                "kind": "vm.create", "payload": try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(VmCreatePayload(spec: spec))),
            ])
            #expect(create.status == 202, "\(create.text)")
            let creating = try await f.lease(hostB.credential)
            #expect(creating.map(\.kind) == [.vmCreate])
            try await f.acknowledge(try #require(creating.first), credential: hostB.credential)
            #expect(try await w.fetch(ref2.downloadPath, token: hostB.credential).body == Data(ImageWorld.pattern(1 << 20, seed: 9)))
            #expect(try await w.fetch(ref1.downloadPath, token: hostB.credential).status == 404)
        }
    }
}

/// A request body of `count` times `chunk` (nothing held but the one chunk).
struct RepeatedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let chunk: ByteBuffer
    let count: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let chunk: ByteBuffer
        var left: Int

        mutating func next() async throws -> ByteBuffer? {
            guard left > 0 else { return nil }
            left -= 1
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunk: chunk, left: count) }
}

/// A request body that sends `chunks` buffers, says so after half of them, waits for `resume` to finish, and
/// then fails (the client aborts the request and drops the connection mid-body).
struct HalfBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let chunk: ByteBuffer
    let chunks: Int
    let halfway: AsyncStream<Void>.Continuation
    let resume: AsyncStream<Void>

    struct Broken: Error {}

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: HalfBody
        var sent = 0

        mutating func next() async throws -> ByteBuffer? {
            if sent == body.chunks / 2 {
                body.halfway.yield()
                for await _ in body.resume {}
                throw Broken()
            }
            sent += 1
            return body.chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}
