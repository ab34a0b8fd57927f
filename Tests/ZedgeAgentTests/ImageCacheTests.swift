import Foundation
import Logging
import Synchronization
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// The image cache against a real HTTPS server on loopback (no mock of libcurl): verified downloads, resume
/// with Range after a broken connection or a killed agent, checksum failures, single flight, LRU eviction,
/// the rate limit.
@Suite("Image cache")
struct ImageCacheTests {
    static let logger = Logger(label: "zedge.test.images")

    /// A cache in a fresh folder, downloading from `server`; `inUse` plays libvirt's answer.
    static func cache(_ server: ImageTestServer, in dir: URL, capacity: Int64 = 1 << 30, bytesPerSecond: Int64 = 0,
                      retryDelay: Duration = .milliseconds(50),
                      inUse: @escaping @Sendable () async throws -> Set<String> = { [] }) throws -> ImageCache {
        let images = dir.appendingPathComponent("images").path
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        let downloader = ImageDownloader(client: server.client(), bytesPerSecond: bytesPerSecond, retryDelay: retryDelay)
        return ImageCache(directory: images, capacityBytes: capacity, downloader: downloader, usage: inUse, logger: logger)
    }

    static func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    @Test func fetchVerifiesAndCachesOnce() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-fetch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 3 << 20 + 123)
        try server.serve(image.ref.versionId, .init(path: image.path))
        let cache = try Self.cache(server, in: dir)

        let first = try await cache.fetch(image.ref)
        #expect(!first.wasCached)
        #expect(first.downloadedBytes == image.ref.sizeBytes)
        #expect(first.path == cache.path(of: image.ref.sha256))
        #expect(Self.contents(first.path) == image.data)
        #expect(!FileManager.default.fileExists(atPath: first.path + ".part"))
        #expect(cache.cachedImages() == [image.ref.sha256])

        let second = try await cache.fetch(image.ref)
        #expect(second.wasCached)
        #expect(second.downloadedBytes == 0)
        let requests = server.requests(for: image.ref.versionId)
        #expect(requests.count == 1)
        #expect(requests.allSatisfy { $0.authorized && $0.range == nil })
    }

    @Test func aPartialFileLeftByAKilledAgentIsResumedWithRange() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 2 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path))
        let cache = try Self.cache(server, in: dir)
        // What `kill -9` leaves: the first 700,001 bytes in <sha>.part, no final file.
        let part = cache.path(of: image.ref.sha256) + ".part"
        FileManager.default.createFile(atPath: part, contents: Data(image.data[0..<700_001]))
        #expect(cache.cachedImages().isEmpty)  // a part file is never reported, nor used

        let fetched = try await cache.fetch(image.ref)
        #expect(fetched.downloadedBytes == image.ref.sizeBytes - 700_001)
        #expect(Self.contents(fetched.path) == image.data)
        let requests = server.requests(for: image.ref.versionId)
        #expect(requests.map(\.range) == ["bytes=700001-"])
        #expect(requests.map(\.status) == [206])
    }

    @Test func aBadPartialFileFailsTheChecksumAndTheRetryFetchesAfresh() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-badpart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 1 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path))
        let cache = try Self.cache(server, in: dir)
        let final = cache.path(of: image.ref.sha256)
        var garbage = Array(image.data[0..<4096])
        garbage[100] ^= 0x01  // e.g. a torn write before a crash
        FileManager.default.createFile(atPath: final + ".part", contents: Data(garbage))

        do {
            _ = try await cache.fetch(image.ref)
            Issue.record("a file with a wrong SHA-256 was accepted")
        } catch let error as ImageCacheError {
            guard case .checksumMismatch(let expected, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(expected == image.ref.sha256)
            #expect(error.description.contains("checksum mismatch"))
        }
        #expect(!FileManager.default.fileExists(atPath: final))  // never used unverified
        #expect(!FileManager.default.fileExists(atPath: final + ".part"))  // deleted with the failure

        let retry = try await cache.fetch(image.ref)  // the lease retry
        #expect(Self.contents(retry.path) == image.data)
        #expect(server.requests(for: image.ref.versionId).map(\.range) == ["bytes=4096-", nil])
    }

    @Test func aConnectionDroppedHalfwayIsResumed() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-drop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 4 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path, drops: 2, dropAfter: 1_500_000))
        let cache = try Self.cache(server, in: dir)

        let fetched = try await cache.fetch(image.ref)
        #expect(Self.contents(fetched.path) == image.data)
        #expect(fetched.requests == 3)
        #expect(fetched.downloadedBytes == image.ref.sizeBytes)  // nothing fetched twice
        let requests = server.requests(for: image.ref.versionId)
        #expect(requests.map(\.range) == [nil, "bytes=1500000-", "bytes=3000000-"])
        #expect(requests.map(\.sent) == [1_500_000, 1_500_000, Int64(4 << 20) - 3_000_000])
    }

    @Test func aServerThatIgnoresRangeStartsTheFileOver() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-norange")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 1 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path, ignoreRange: true))
        let cache = try Self.cache(server, in: dir)
        FileManager.default.createFile(atPath: cache.path(of: image.ref.sha256) + ".part", contents: Data(image.data[0..<5000]))

        let fetched = try await cache.fetch(image.ref)
        #expect(Self.contents(fetched.path) == image.data)
        #expect(server.requests(for: image.ref.versionId).map(\.status) == [200])
    }

    @Test func aCorruptedByteOnTheWireFailsTheChecksumAndTheRetrySucceeds() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-corrupt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 3 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path, corruptions: 1))
        let cache = try Self.cache(server, in: dir)

        await #expect(throws: ImageCacheError.self) { _ = try await cache.fetch(image.ref) }
        #expect(cache.cachedImages().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: cache.path(of: image.ref.sha256) + ".part"))
        let retry = try await cache.fetch(image.ref)
        #expect(Self.contents(retry.path) == image.data)
        #expect(server.requests(for: image.ref.versionId).count == 2)
    }

    @Test func concurrentFetchesOfOneImageDownloadItOnce() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-flight")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 2 << 20)
        // Slow enough that every caller arrives while the download runs.
        try server.serve(image.ref.versionId, .init(path: image.path, chunkDelay: 0.02))
        let cache = try Self.cache(server, in: dir)

        let results = try await withThrowingTaskGroup(of: ImageCache.Fetched.self) { group in
            for _ in 0..<5 { group.addTask { try await cache.fetch(image.ref) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 5)
        #expect(results.filter { $0.downloadedBytes == image.ref.sizeBytes }.count == 1)
        #expect(results.allSatisfy { Self.contents($0.path) == image.data })
        #expect(server.requests(for: image.ref.versionId).count == 1)
    }

    @Test func progressIsVisibleWhileTheDownloadRuns() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-progress")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 1 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path, chunkDelay: 0.05))
        let cache = try Self.cache(server, in: dir)
        let compute = ComputeResources(layout: AgentLayout(stateDirectory: dir.path), images: cache,
                                       storage: LibvirtStorage(connection: LibvirtConnection(uri: "test:///default")))
        let reports = Mutex<[JSONValue]>([])
        let progress = TaskProgress(interval: .milliseconds(100)) { name, metadata in
            #expect(name == "image.fetch.progress")
            reports.withLock { $0.append(metadata) }
        }
        let fetched = try await compute.withImage(image.ref, progress: progress) { $0 }
        #expect(Self.contents(fetched.path) == image.data)
        let seen = reports.withLock { $0 }
        #expect(!seen.isEmpty)
        let done = seen.compactMap { report -> Double? in if case .number(let n)? = report["bytesDone"] { n } else { nil } }
        #expect(done == done.sorted())  // never goes back
        #expect(seen.allSatisfy { $0["bytesTotal"] == .number(Double(image.ref.sizeBytes)) && $0["sha256"] == .string(image.ref.sha256) })
        // Released after use: evictable again.
        #expect(await cache.evictIfNeeded(incomingBytes: 1 << 40) == [image.ref.sha256])
    }

    @Test func leastRecentlyUsedImagesGoFirstButNeverOnesInUse() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-lru")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try TestImageFile(in: dir, bytes: 1 << 20, seed: 1)
        let b = try TestImageFile(in: dir, bytes: 1 << 20, seed: 2)
        let c = try TestImageFile(in: dir, bytes: 1 << 20, seed: 3)
        let d = try TestImageFile(in: dir, bytes: 1 << 20, seed: 4)
        for image in [a, b, c, d] { try server.serve(image.ref.versionId, .init(path: image.path)) }
        // Room for three images. `a` is used by a domain (as libvirt would say).
        let cache = try Self.cache(server, in: dir, capacity: 3 << 20 + 1000, inUse: { [a.ref.sha256] })
        for image in [a, b, c] { _ = try await cache.fetch(image.ref) }
        // Make the order of use unambiguous (mtime has coarse resolution on some file systems): a, b oldest.
        for (i, image) in [a, b, c].enumerated() {
            var times = [timespec(tv_sec: 1_000_000 + i * 100, tv_nsec: 0), timespec(tv_sec: 1_000_000 + i * 100, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, cache.path(of: image.ref.sha256), &times, 0) == 0)
        }
        _ = try await cache.fetch(d.ref)  // needs room: b is the oldest not in use
        #expect(Set(cache.cachedImages()) == Set([a.ref.sha256, c.ref.sha256, d.ref.sha256]))

        // Using c makes it recent; the next fetch evicts the least recently used image not in use (d's
        // mtime is its download; c was touched after it).
        try await Task.sleep(for: .milliseconds(20))
        _ = try await cache.fetch(c.ref)
        _ = try await cache.fetch(b.ref)
        #expect(Set(cache.cachedImages()) == Set([a.ref.sha256, c.ref.sha256, b.ref.sha256]))

        // Only images in use: the cache stays over its bound rather than delete them.
        let pinned = try Self.cache(server, in: dir, capacity: 1, inUse: { Set([a.ref.sha256, b.ref.sha256, c.ref.sha256]) })
        #expect(await pinned.evictIfNeeded() == [])
        #expect(pinned.cachedImages().count == 3)
        // When libvirt cannot be asked, nothing is evicted.
        let blind = try Self.cache(server, in: dir, capacity: 1, inUse: { throw AgentError("libvirtd is down") })
        #expect(await blind.evictIfNeeded() == [])
        #expect(blind.cachedImages().count == 3)
    }

    @Test func anAcquiredImageIsNotEvicted() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-pin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try TestImageFile(in: dir, bytes: 1 << 20, seed: 5)
        try server.serve(a.ref.versionId, .init(path: a.path))
        let cache = try Self.cache(server, in: dir, capacity: 1)
        let fetched = try await cache.acquire(a.ref)
        #expect(await cache.evictIfNeeded() == [])
        #expect(FileManager.default.fileExists(atPath: fetched.path))
        await cache.release(a.ref.sha256)
        #expect(await cache.evictIfNeeded() == [a.ref.sha256])
        #expect(!FileManager.default.fileExists(atPath: fetched.path))
    }

    @Test func theRateLimitIsHonoured() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-rate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 10 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path))
        let limit: Int64 = 2 << 20
        let downloader = ImageDownloader(client: server.client(), bytesPerSecond: limit)
        let started = ContinuousClock.now
        let report = try await downloader.fetch(image.ref, partPath: dir.appendingPathComponent("x.part").path,
                                                finalPath: dir.appendingPathComponent("x").path,
                                                progress: ImageProgress(totalBytes: image.ref.sizeBytes), logger: Self.logger)
        let seconds = (ContinuousClock.now - started).seconds
        #expect(report.downloadedBytes == image.ref.sizeBytes)
        #expect(report.requests == 1)
        // One-sided, so a loaded machine (only ever slower) cannot fail it. libcurl 7.88 lets the first few
        // MiB through before it starts pacing (measured with the curl CLI on loopback: 4 MiB at --limit-rate
        // 512K took 5 ms, 6 MiB took 7.5 s, 8 MiB 15.8 s), so allow a 4 MiB head start: 10 MiB at 2 MiB/s
        // cannot take less than 3 s (unlimited, it takes a fraction of a second here).
        let burst = Double(4 << 20)
        #expect(Double(image.ref.sizeBytes) <= burst + Double(limit) * seconds * 1.05, "10 MiB in \(seconds) s")
    }

    @Test func aRefusedDownloadFailsWithTheCoordinatorsReason() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("cache-refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 1000)
        let cache = try Self.cache(server, in: dir)
        do {
            _ = try await cache.fetch(image.ref)  // never served: 404
            Issue.record("a 404 was taken for an image")
        } catch let error as ImageCacheError {
            #expect(error == .refused(status: 404, detail: "ImageVersion not found"))
        }
        try server.serve(image.ref.versionId, .init(path: image.path))
        let wrongCredential = ImageDownloader(client: server.client(credential: "zac_wrong"))
        await #expect(throws: ImageCacheError.refused(status: 401, detail: "missing or wrong agent credential")) {
            _ = try await wrongCredential.fetch(image.ref, partPath: dir.appendingPathComponent("y.part").path,
                                                finalPath: dir.appendingPathComponent("y").path,
                                                progress: ImageProgress(totalBytes: 1000), logger: Self.logger)
        }
        // A reference whose size does not match the coordinator's file is refused before any byte is kept.
        var wrongSize = image.ref
        wrongSize.sizeBytes = 999
        await #expect(throws: ImageCacheError.self) { _ = try await cache.fetch(wrongSize) }
        #expect(cache.cachedImages().isEmpty)
    }
}
