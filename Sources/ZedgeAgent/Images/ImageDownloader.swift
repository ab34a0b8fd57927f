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
import ZedgeTransport

/// Why an image could not be fetched. Each is one attempt's failure; the task's lease retry fetches again.
public enum ImageCacheError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The verified bytes do not have the image's SHA-256; the partial file was deleted.
    case checksumMismatch(expected: String, actual: String)
    /// The coordinator refused the download (e.g. 404: no task leased to this agent names the version).
    case refused(status: Int, detail: String)
    /// The coordinator's answer does not fit the image reference (size, range).
    case mismatch(String)
    /// The connection kept breaking without progress.
    case interrupted(String)
    /// Not enough free space in the cache's file system.
    case noSpace(needed: Int64, available: Int64)
    case io(String)

    public var description: String {
        switch self {
        case .checksumMismatch(let expected, let actual):
            "image checksum mismatch: expected sha256 \(expected), got \(actual); the partial file was deleted"
        case .refused(let status, let detail): "the coordinator refused the image download (\(status)): \(detail)"
        case .mismatch(let what): "the image download does not match its reference: \(what)"
        case .interrupted(let why): "the image download kept failing: \(why)"
        case .noSpace(let needed, let available):
            "not enough space for the image: \(needed) bytes needed, \(available) available"
        case .io(let what): what
        }
    }
}

/// Downloads one image version's file from the coordinator (`GET ImageRef.downloadPath` with the agent's
/// credential) into a part file, resuming with `Range` after a broken connection, then verifies its SHA-256
/// and renames it into place. Each download uses its own libcurl handle, so it never holds up the agent's
/// other requests.
public struct ImageDownloader: Sendable {
    public let baseURL: String
    let trust: CurlHTTPClient.TrustMode
    let credential: String?
    /// `CURLOPT_MAX_RECV_SPEED_LARGE`, bytes per second; 0 for no limit.
    public var bytesPerSecond: Int64
    /// Attempts in a row that may end without a new byte before the fetch fails.
    public var attemptsWithoutProgress: Int
    /// The pause after an attempt that made no progress (doubles each time, at most 30 s).
    public var retryDelay: Duration
    /// A transfer slower than 1 byte/s for this long is treated as broken.
    public var stallTimeout: Duration

    public init(client: CoordinatorClient, bytesPerSecond: Int64 = 0, attemptsWithoutProgress: Int = 4,
                retryDelay: Duration = .seconds(1), stallTimeout: Duration = .seconds(60)) {
        self.baseURL = client.baseURL
        self.trust = client.trust
        self.credential = client.credential
        self.bytesPerSecond = max(0, bytesPerSecond)
        self.attemptsWithoutProgress = max(1, attemptsWithoutProgress)
        self.retryDelay = retryDelay
        self.stallTimeout = stallTimeout
    }

    /// What one `fetch` did.
    public struct Report: Sendable, Hashable {
        /// Bytes received over the network by this fetch (a resumed one counts only what it fetched).
        public var downloadedBytes: Int64
        /// HTTP requests made (1 without interruptions).
        public var requests: Int
        /// The first bytes of the file were already on disk (a partial file was resumed).
        public var resumedFrom: Int64
        /// libcurl's average speed of the last transfer, bytes per second.
        public var lastAverageBytesPerSecond: Int64
    }

    /// Fetches `ref` to `finalPath` through `partPath` (same folder). Throws `ImageCacheError`,
    /// `CancellationError` (the part file stays for the next attempt).
    public func fetch(_ ref: ImageRef, partPath: String, finalPath: String, progress: ImageProgress,
                      logger: Logger) async throws -> Report {
        let io = BlockingQueue(label: "zedge.agent.image-io")
        let part = try await io.run { try ImagePartFile(path: partPath, expectedSize: ref.sizeBytes, progress: progress) }
        let resumedFrom = part.size
        if resumedFrom > 0 {
            logger.info("resuming an image download", metadata: ["sha256": "\(ref.sha256)", "from": "\(resumedFrom)", "of": "\(ref.sizeBytes)"])
        }
        let available = Self.availableBytes(in: URL(fileURLWithPath: partPath).deletingLastPathComponent().path)
        if let available, available < ref.sizeBytes - part.size {
            throw ImageCacheError.noSpace(needed: ref.sizeBytes - part.size, available: available)
        }

        do {
            return try await download(ref, part: part, resumedFrom: resumedFrom, finalPath: finalPath, io: io, logger: logger)
        } catch {
            if part.size == 0, !(error is CancellationError) { part.discard() }  // Nothing worth resuming.
            throw error
        }
    }

    private func download(_ ref: ImageRef, part: ImagePartFile, resumedFrom: Int64, finalPath: String, io: BlockingQueue,
                          logger: Logger) async throws -> Report {
        let http = CurlHTTPClient(trust: trust, userAgent: "zedge-agent/\(ZedgeVersion.current)")
        var headers: [String: String] = ["Accept": "application/octet-stream"]
        if let credential { headers["Authorization"] = "Bearer \(credential)" }
        let url = baseURL + ref.downloadPath
        var report = Report(downloadedBytes: 0, requests: 0, resumedFrom: resumedFrom, lastAverageBytesPerSecond: 0)
        var fruitless = 0
        var delay = retryDelay
        var lastProblem = ""
        while part.size < ref.sizeBytes {
            try Task.checkCancellation()
            try part.prepareAttempt()
            let before = part.size
            report.requests += 1
            do {
                // Under a rate limit, smaller reads let libcurl pace the transfer evenly (it limits per second).
                let buffer = bytesPerSecond > 0 ? Int(max(16 << 10, min(256 << 10, bytesPerSecond / 16))) : 256 << 10
                let options = CurlHTTPClient.DownloadOptions(rangeStart: part.size, maxBytesPerSecond: bytesPerSecond,
                                                             lowSpeedTime: stallTimeout, bufferBytes: buffer)
                let outcome = try await http.download(url: url, headers: headers, options: options, into: part)
                report.lastAverageBytesPerSecond = outcome.averageBytesPerSecond
                if let failure = part.failure {
                    switch failure {
                    case .mismatch(let what): throw ImageCacheError.mismatch(what)
                    case .io(let what): throw ImageCacheError.io(what)
                    }
                }
                switch outcome.status {
                case 200, 206:
                    if part.size < ref.sizeBytes { lastProblem = "the response ended after \(part.size) of \(ref.sizeBytes) bytes" }
                case 416 where before > 0:
                    // The coordinator does not know our partial file's end: start over.
                    logger.warning("the coordinator refused to resume the image download; starting over",
                                   metadata: ["sha256": "\(ref.sha256)", "from": "\(before)"])
                    try part.restart()
                    continue
                default:
                    throw ImageCacheError.refused(status: outcome.status, detail: Self.problemDetail(part.errorText))
                }
            } catch let error as TransportError {
                lastProblem = error.description
                logger.warning("image download interrupted; resuming",
                               metadata: ["sha256": "\(ref.sha256)", "at": "\(part.size)", "of": "\(ref.sizeBytes)", "error": "\(error)"])
            }
            if part.size > before {
                fruitless = 0
                delay = retryDelay
            } else {
                fruitless += 1
                if fruitless >= attemptsWithoutProgress { throw ImageCacheError.interrupted(lastProblem) }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }

        report.downloadedBytes = part.receivedBytes
        let digest = part.digest()
        guard digest == ref.sha256 else {
            part.discard()
            throw ImageCacheError.checksumMismatch(expected: ref.sha256, actual: digest)
        }
        try await io.run { try part.commit(to: finalPath) }
        return report
    }

    /// The detail of a problem+json body, or the body's first line.
    static func problemDetail(_ body: String) -> String {
        if let object = try? ZedgeJSON.decoder().decode(JSONValue.self, from: Data(body.utf8)),
           let detail = object["detail"]?.stringValue ?? object["title"]?.stringValue {
            return detail
        }
        return String(body.split(separator: "\n").first ?? "").prefix(200).description
    }

    /// Free bytes for an unprivileged writer in the file system holding `path`; nil if unknown.
    static func availableBytes(in path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }
}
