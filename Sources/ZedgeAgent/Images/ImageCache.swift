#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ZedgeCore

/// The agent's image cache: verified image files named by their SHA-256 in one folder
/// (`<stateDir>/images/<sha256>`, `<sha256>.part` while downloading), bounded in bytes.
///
/// - A file has its final name only once its SHA-256 matched (`ImageDownloader`); nothing else is ever used.
/// - Concurrent requests for one hash download it once (single flight); the others wait for that download.
/// - Least recently used images go first when the cache is over its bound, but never one that a domain or
///   an overlay volume uses (`usage`, asked of libvirt each time, so it holds across agent restarts), nor one
///   that a running task has acquired. When only images in use remain, the cache stays over its bound.
/// - "Used" is the file's mtime, set on every acquire.
public actor ImageCache {
    public nonisolated let directory: String
    public nonisolated let capacityBytes: Int64
    let downloader: ImageDownloader
    /// The SHA-256s that domains or overlay volumes use (libvirt's view). An error stops eviction.
    let usage: @Sendable () async throws -> Set<String>
    let logger: Logger

    private var flights: [String: Flight] = [:]
    private var pins: [String: Int] = [:]

    /// One running download and the callers waiting for it.
    private final class Flight {
        let progress: ImageProgress
        var waiters: [CheckedContinuation<Void, any Error>] = []
        init(progress: ImageProgress) { self.progress = progress }
    }

    /// What `acquire` or `fetch` found or did.
    public struct Fetched: Sendable, Hashable {
        public var sha256: String
        /// The verified file.
        public var path: String
        /// Bytes this call downloaded (0 when the image was cached, or another caller downloaded it).
        public var downloadedBytes: Int64
        /// True when this call found the image already in the cache.
        public var wasCached: Bool
        /// HTTP requests this call made.
        public var requests: Int
    }

    public init(directory: String, capacityBytes: Int64, downloader: ImageDownloader,
                usage: @escaping @Sendable () async throws -> Set<String>, logger: Logger) {
        self.directory = directory
        self.capacityBytes = max(0, capacityBytes)
        self.downloader = downloader
        self.usage = usage
        self.logger = logger
    }

    public nonisolated func path(of sha256: String) -> String { "\(directory)/\(sha256)" }
    nonisolated func partPath(of sha256: String) -> String { "\(directory)/\(sha256).part" }

    /// The hashes of the verified images in the cache, sorted (what the heartbeat reports).
    public nonisolated func cachedImages() -> [String] {
        Self.scan(directory).filter { !$0.isPart }.map(\.sha256).sorted()
    }

    /// Bytes done and expected of the running download of `sha256`; nil when none runs.
    public func progress(of sha256: String) -> (doneBytes: Int64, totalBytes: Int64)? {
        flights[sha256].map { ($0.progress.doneBytes, $0.progress.totalBytes) }
    }

    /// Fetches `ref` if it is not cached; the image may be evicted as soon as this returns.
    public func fetch(_ ref: ImageRef) async throws -> Fetched {
        let fetched = try await acquire(ref)
        release(ref.sha256)
        return fetched
    }

    /// Fetches `ref` if it is not cached and keeps it from eviction until `release`. Throws `ImageCacheError`
    /// (the attempt's reason) or `CancellationError`.
    public func acquire(_ ref: ImageRef) async throws -> Fetched {
        guard ImageRef.isSHA256Hex(ref.sha256) else { throw ImageCacheError.mismatch("\(ref.sha256) is not a SHA-256") }
        pins[ref.sha256, default: 0] += 1
        do {
            return try await obtain(ref)
        } catch {
            release(ref.sha256)
            throw error
        }
    }

    /// Ends an `acquire`.
    public func release(_ sha256: String) {
        guard let count = pins[sha256] else { return }
        pins[sha256] = count > 1 ? count - 1 : nil
    }

    private func obtain(_ ref: ImageRef) async throws -> Fetched {
        let sha = ref.sha256
        let final = path(of: sha)
        while true {
            try Task.checkCancellation()
            if let flight = flights[sha] {
                do {
                    try await withCheckedThrowingContinuation { flight.waiters.append($0) }
                } catch is CancellationError where !Task.isCancelled {
                    continue  // The downloading task was cancelled, not this one: try again.
                }
                continue
            }
            if Self.isRegularFile(final) {
                Self.touch(final)
                return Fetched(sha256: sha, path: final, downloadedBytes: 0, wasCached: true, requests: 0)
            }
            let flight = Flight(progress: ImageProgress(totalBytes: ref.sizeBytes))
            flights[sha] = flight
            let result: Result<ImageDownloader.Report, any Error>
            do {
                let partBytes = Self.fileSize(partPath(of: sha)) ?? 0
                await evictIfNeeded(incomingBytes: max(0, ref.sizeBytes - partBytes))
                logger.info("fetching image", metadata: ["sha256": "\(sha)", "bytes": "\(ref.sizeBytes)", "version": "\(ref.versionId)"])
                result = .success(try await downloader.fetch(ref, partPath: partPath(of: sha), finalPath: final,
                                                             progress: flight.progress, logger: logger))
            } catch {
                result = .failure(error)
            }
            flights[sha] = nil
            for waiter in flight.waiters { waiter.resume(with: result.map { _ in () }) }
            let report = try result.get()
            logger.info("image cached", metadata: ["sha256": "\(sha)", "downloaded": "\(report.downloadedBytes)",
                                                   "requests": "\(report.requests)", "resumedFrom": "\(report.resumedFrom)"])
            await evictIfNeeded()
            return Fetched(sha256: sha, path: final, downloadedBytes: report.downloadedBytes, wasCached: false,
                           requests: report.requests)
        }
    }

    /// Deletes least recently used images nobody uses (and stale part files) until the cache, plus
    /// `incomingBytes`, fits its bound. Returns the hashes it deleted.
    @discardableResult
    public func evictIfNeeded(incomingBytes: Int64 = 0) async -> [String] {
        var total = Self.scan(directory).reduce(Int64(0)) { $0 + $1.bytes }
        guard total + incomingBytes > capacityBytes else { return [] }
        let inUse: Set<String>
        do {
            inUse = try await usage()
        } catch {
            logger.warning("cannot tell which images are in use; evicting none", metadata: ["error": "\(error)"])
            return []
        }
        // Scanned again after the await: a download may have finished meanwhile.
        let entries = Self.scan(directory)
        total = entries.reduce(Int64(0)) { $0 + $1.bytes }
        var evicted: [String] = []
        for entry in entries.sorted(by: { ($0.lastUsed, $0.sha256) < ($1.lastUsed, $1.sha256) }) {
            guard total + incomingBytes > capacityBytes else { break }
            if flights[entry.sha256] != nil || pins[entry.sha256] != nil || (!entry.isPart && inUse.contains(entry.sha256)) {
                continue
            }
            guard unlink(entry.path) == 0 || errno == ENOENT else {
                logger.warning("cannot evict an image", metadata: ["path": "\(entry.path)", "errno": "\(errno)"])
                continue
            }
            total -= entry.bytes
            if !entry.isPart { evicted.append(entry.sha256) }
            logger.info(entry.isPart ? "removed a stale partial image download" : "evicted image",
                        metadata: ["sha256": "\(entry.sha256)", "bytes": "\(entry.bytes)"])
        }
        if total + incomingBytes > capacityBytes {
            logger.notice("the image cache stays over its bound: the rest is in use",
                          metadata: ["bytes": "\(total)", "incoming": "\(incomingBytes)", "bound": "\(capacityBytes)"])
        }
        return evicted
    }

    // MARK: Files

    struct Entry: Sendable {
        var sha256: String
        var path: String
        var bytes: Int64
        var lastUsed: Date
        var isPart: Bool
    }

    /// The cache's files: `<sha256>` and `<sha256>.part`; anything else is ignored.
    static func scan(_ directory: String) -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var entries: [Entry] = []
        for name in names {
            let isPart = name.hasSuffix(".part")
            let sha = isPart ? String(name.dropLast(5)) : name
            guard ImageRef.isSHA256Hex(sha) else { continue }
            let path = "\(directory)/\(name)"
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let mtime = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
            entries.append(Entry(sha256: sha, path: path, bytes: Int64(st.st_size), lastUsed: mtime, isPart: isPart))
        }
        return entries
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    /// Marks a file used now (mtime and atime).
    static func touch(_ path: String) {
        _ = utimensat(AT_FDCWD, path, nil, 0)
    }
}
