import CCurl
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore
import Synchronization

/// A failed transfer: libcurl's `CURLcode` and a readable message (`curl_easy_strerror` plus the
/// `CURLOPT_ERRORBUFFER` detail), or an error the client raised itself with a matching code
/// (e.g. `CURLE_WRITE_ERROR` when the response body is over the size cap).
public struct TransportError: Error, CustomStringConvertible, Equatable {
    /// The `CURLcode` (e.g. 28 operation timed out, 60 peer certificate verification failed).
    public let code: Int32
    public let message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "transport error (curl \(code)): \(message)" }

    /// The transfer ran out of time (`CURLE_OPERATION_TIMEDOUT`).
    public var isTimeout: Bool { code == Int32(CURLE_OPERATION_TIMEDOUT.rawValue) }

    /// The server's certificate chain or name did not verify (`CURLE_PEER_FAILED_VERIFICATION`).
    public var isCertificateVerificationFailure: Bool { code == Int32(CURLE_PEER_FAILED_VERIFICATION.rawValue) }

    init(_ code: CURLcode, detail: String = "") {
        let text = String(cString: curl_easy_strerror(code))
        self.init(
            code: Int32(truncatingIfNeeded: code.rawValue),
            message: detail.isEmpty || detail == text ? text : "\(text): \(detail)"
        )
    }
}

/// HTTP(S) client over one libcurl easy handle, for the agent's calls to the coordinator.
///
/// `@unchecked Sendable` because it wraps a C handle: a `CURL*` easy handle must never be used by two
/// threads at once. Every use of the handle (and of its error buffer) happens on this instance's own
/// serial `DispatchQueue`, so concurrent `send` calls queue up behind each other instead of racing; the
/// remaining stored properties are immutable. The blocking `curl_easy_perform` runs on that queue, never on
/// Swift's cooperative thread pool, and its result comes back through a checked continuation. Reusing one
/// handle keeps the TLS connection to the coordinator alive between requests.
///
/// Use one client per concurrent stream of requests (e.g. one for the task long-poll, one for heartbeats).
/// Cancelling the calling task aborts the running transfer within about a second (`CancellationError`).
public final class CurlHTTPClient: @unchecked Sendable {
    public struct HTTPResponse: Sendable {
        public let status: Int
        /// Response headers with lowercased names; repeated headers are joined with ", ".
        public let headers: [String: String]
        public let body: Data

        public init(status: Int, headers: [String: String], body: Data) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public enum TrustMode: Sendable {
        /// Verify the peer's chain and host name against exactly this CA (PEM), nothing from the system
        /// store (via `CURLOPT_CAINFO_BLOB`, with `CURLOPT_CAPATH` cleared).
        case caPEM(String)
        /// No verification at all. Only for fetching the coordinator's CA to check it against its pin
        /// (see `CAPinning.fetchPinnedCA`); never for anything else.
        case insecureForPinning
        /// Verify against the system CA store.
        case system
    }

    /// Default cap on a response body: 16 MiB.
    public static let defaultMaxBodyBytes = 16 << 20
    /// Cap on the connection phase (DNS, TCP, TLS handshake); the overall timeout may be shorter.
    public static let connectTimeout: Duration = .seconds(10)

    /// `curl_global_init`, run once on first use (a static let is initialised thread-safely).
    static let globalInitCode: UInt32 = curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue

    private let trust: TrustMode
    private let userAgent: String
    private let maxBodyBytes: Int
    private let queue: DispatchQueue

    // Touched only on `queue` (and in deinit, when no transfer can be running).
    private var handle: UnsafeMutableRawPointer?
    private let errorBuffer: UnsafeMutablePointer<CChar>

    public init(trust: TrustMode, userAgent: String, maxBodyBytes: Int = CurlHTTPClient.defaultMaxBodyBytes) {
        self.trust = trust
        self.userAgent = userAgent
        self.maxBodyBytes = max(0, maxBodyBytes)
        self.queue = DispatchQueue(label: "zedge.agent.curl")
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        if let handle { curl_easy_cleanup(handle) }
        errorBuffer.deallocate()
    }

    /// Sends one request and returns the response, whatever its status.
    ///
    /// - Parameters:
    ///   - method: `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, ...
    ///   - headers: extra request headers (names and values must not contain CR or LF).
    ///   - body: request body; `POST`/`PUT`/`PATCH` without one send `Content-Length: 0`.
    ///   - timeout: limit for the whole transfer (connect + send + wait + receive).
    /// - Throws: `TransportError` (connection, TLS, timeout, body over the cap), `CancellationError`.
    public func send(
        _ method: String,
        url: String,
        headers: [String: String] = [:],
        body: Data? = nil,
        timeout: Duration
    ) async throws -> HTTPResponse {
        let request = Request(method: method, url: url, headers: headers, body: body, timeout: timeout)
        return try await run(request)
    }

    /// How a download runs (see `download`).
    public struct DownloadOptions: Sendable, Hashable {
        /// Ask for the body from this byte on (`Range: bytes=N-`); 0 asks for all of it.
        public var rangeStart: Int64
        /// `CURLOPT_MAX_RECV_SPEED_LARGE`: libcurl keeps the average receive rate at or below this many bytes
        /// per second; 0 for no limit.
        public var maxBytesPerSecond: Int64
        /// A transfer that receives less than `lowSpeedBytes` per second for this long is aborted (timeout):
        /// a stalled connection, not a slow one, ends the attempt.
        public var lowSpeedTime: Duration
        public var lowSpeedBytes: Int
        /// libcurl's receive buffer (`CURLOPT_BUFFERSIZE`), bytes.
        public var bufferBytes: Int

        public init(rangeStart: Int64 = 0, maxBytesPerSecond: Int64 = 0, lowSpeedTime: Duration = .seconds(60),
                    lowSpeedBytes: Int = 1, bufferBytes: Int = 256 << 10) {
            self.rangeStart = rangeStart
            self.maxBytesPerSecond = maxBytesPerSecond
            self.lowSpeedTime = lowSpeedTime
            self.lowSpeedBytes = lowSpeedBytes
            self.bufferBytes = bufferBytes
        }
    }

    /// How a download ended, when libcurl finished it (transport failures throw instead).
    public struct DownloadOutcome: Sendable {
        /// The final response's status (0 if none arrived).
        public let status: Int
        /// Response headers with lowercased names.
        public let headers: [String: String]
        /// True when the sink refused the response or a chunk of it (it knows why).
        public let abortedBySink: Bool
        /// Body bytes handed to the sink by this transfer.
        public let bodyBytes: Int64
        /// libcurl's average download speed for the transfer, bytes per second (`CURLINFO_SPEED_DOWNLOAD_T`).
        public let averageBytesPerSecond: Int64
    }

    /// Streams a GET's response body into `sink` without holding it in memory: `sink.begin` sees the status
    /// and headers before the first body byte (and decides whether to take the body), `sink.receive` each
    /// chunk, on this client's queue. No overall timeout: `options.lowSpeedTime` ends a stalled transfer.
    ///
    /// - Throws: `TransportError` (connect, TLS, a connection broken mid-body: `CURLE_PARTIAL_FILE` 18,
    ///   `CURLE_RECV_ERROR` 56, stalled: `CURLE_OPERATION_TIMEDOUT` 28), `CancellationError`.
    public func download(
        url: String, headers: [String: String] = [:], options: DownloadOptions = .init(), into sink: any CurlDownloadSink
    ) async throws -> DownloadOutcome {
        var headers = headers
        if options.rangeStart > 0 { headers["Range"] = "bytes=\(options.rangeStart)-" }
        let request = Request(method: "GET", url: url, headers: headers, body: nil, timeout: nil, download: options, sink: sink)
        let cancellation = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<DownloadOutcome, any Error>) in
                queue.async {
                    continuation.resume(with: Result {
                        let (status, headers, context) = try self.perform(request, cancellation: cancellation)
                        return DownloadOutcome(status: status, headers: headers, abortedBySink: context.sinkAborted,
                                               bodyBytes: context.sinkBytes, averageBytesPerSecond: context.averageSpeed)
                    })
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Sends a request whose body is streamed from `source` (`CURLOPT_UPLOAD` with `CURLOPT_READFUNCTION`), so a
    /// large file never sits in memory, and returns the response (its body capped as for `send`). `source.progress`
    /// is told the bytes sent so far as libcurl reports them. No overall timeout: a transfer that sends less
    /// than one byte per second for `stallTimeout` ends with a timeout.
    ///
    /// - Throws: `TransportError`, `CancellationError`.
    public func upload(
        _ method: String, url: String, headers: [String: String] = [:], from source: any CurlUploadSource,
        stallTimeout: Duration = .seconds(120)
    ) async throws -> HTTPResponse {
        let request = Request(method: method, url: url, headers: headers, body: nil, timeout: nil,
                              download: .init(lowSpeedTime: stallTimeout), upload: source)
        return try await run(request)
    }

    /// Performs `request` on this client's queue; cancelling the calling task aborts the transfer.
    private func run(_ request: Request) async throws -> HTTPResponse {
        let cancellation = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                queue.async {
                    continuation.resume(with: Result {
                        let (status, headers, context) = try self.perform(request, cancellation: cancellation)
                        return HTTPResponse(status: status, headers: headers, body: context.body)
                    })
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    // MARK: - On `queue` only

    private struct Request: Sendable {
        let method: String
        let url: String
        let headers: [String: String]
        let body: Data?
        /// The whole transfer's limit; nil for none (downloads: `lowSpeedTime` ends a stalled one instead).
        let timeout: Duration?
        var download: DownloadOptions? = nil
        var sink: (any CurlDownloadSink)? = nil
        /// Uploads: where the body comes from (instead of `body`).
        var upload: (any CurlUploadSource)? = nil
    }

    private func perform(_ request: Request, cancellation: CancellationFlag) throws -> (Int, [String: String], TransferContext) {
        dispatchPrecondition(condition: .onQueue(queue))
        if cancellation.isCancelled { throw CancellationError() }
        let initCode = Self.globalInitCode
        guard initCode == CURLE_OK.rawValue else {
            throw TransportError(CURLcode(rawValue: initCode), detail: "curl_global_init failed")
        }
        if handle == nil { handle = curl_easy_init() }
        guard let handle else { throw TransportError(CURLE_FAILED_INIT, detail: "curl_easy_init returned NULL") }
        curl_easy_reset(handle)  // Forget the previous request's options; keeps the connection cache.
        errorBuffer[0] = 0

        let method = request.method.uppercased()
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenByte) else {
            throw TransportError(CURLE_BAD_FUNCTION_ARGUMENT, detail: "invalid HTTP method \"\(request.method)\"")
        }

        func set(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else { throw TransportError(code, detail: "setting \(what)") }
        }

        // Connection and protocol.
        try set(zedge_curl_setopt_string(handle, CURLOPT_URL, request.url), "URL")
        try set(zedge_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR")
        try set(zedge_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try set(zedge_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        var connectMs = Self.milliseconds(Self.connectTimeout)
        if let timeout = request.timeout {
            let timeoutMs = Self.milliseconds(timeout)
            try set(zedge_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs), "TIMEOUT_MS")
            connectMs = min(timeoutMs, connectMs)
        }
        try set(zedge_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, connectMs), "CONNECTTIMEOUT_MS")
        if let download = request.download {
            let lowSpeedSeconds = max(1, Int(download.lowSpeedTime.components.seconds))
            try set(zedge_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, lowSpeedSeconds), "LOW_SPEED_TIME")
            try set(zedge_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, max(1, download.lowSpeedBytes)), "LOW_SPEED_LIMIT")
            try set(zedge_curl_setopt_long(handle, CURLOPT_BUFFERSIZE, max(1024, min(download.bufferBytes, 10 << 20))), "BUFFERSIZE")
            if download.maxBytesPerSecond > 0 {
                try set(zedge_curl_setopt_off_t(handle, CURLOPT_MAX_RECV_SPEED_LARGE, curl_off_t(download.maxBytesPerSecond)),
                        "MAX_RECV_SPEED_LARGE")
            }
        }
        try set(zedge_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        try set(zedge_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)), "HTTP_VERSION")
        try set(zedge_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent), "USERAGENT")

        try trust.apply(to: handle)

        // Method and body. COPYPOSTFIELDS copies the bytes, so nothing must outlive this call.
        var body = request.body
        if body == nil, request.upload == nil, ["POST", "PUT", "PATCH"].contains(method) { body = Data() }
        if let upload = request.upload {
            try set(zedge_curl_setopt_long(handle, CURLOPT_UPLOAD, 1), "UPLOAD")
            try set(zedge_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(upload.totalBytes)), "INFILESIZE_LARGE")
            if method != "PUT" {
                try set(zedge_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method), "CUSTOMREQUEST")
            }
        } else if let body {
            try set(zedge_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "POSTFIELDSIZE")
            let bytes = body.isEmpty ? [0] : [UInt8](body)
            try bytes.withUnsafeBytes { raw in
                try set(
                    zedge_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress)),
                    "COPYPOSTFIELDS"
                )
            }
            if method != "POST" {
                try set(zedge_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method), "CUSTOMREQUEST")
            }
        } else if method == "GET" {
            try set(zedge_curl_setopt_long(handle, CURLOPT_HTTPGET, 1), "HTTPGET")
        } else if method == "HEAD" {
            try set(zedge_curl_setopt_long(handle, CURLOPT_NOBODY, 1), "NOBODY")
        } else {
            try set(zedge_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method), "CUSTOMREQUEST")
        }

        // Request headers. "Expect:" stops curl from waiting for a 100-continue on larger bodies.
        for (name, value) in request.headers {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte),
                  !value.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 })
            else {
                throw TransportError(CURLE_BAD_FUNCTION_ARGUMENT, detail: "invalid request header \"\(name)\"")
            }
        }
        var lines = request.headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        if body != nil || request.upload != nil { lines.append("Expect:") }
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for line in lines {
            guard let appended = curl_slist_append(list, line) else {
                throw TransportError(CURLE_OUT_OF_MEMORY, detail: "curl_slist_append")
            }
            list = appended
        }
        try set(zedge_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list), "HTTPHEADER")

        // Callbacks, with the context box passed through their void* (kept alive below).
        let context = TransferContext(maxBodyBytes: maxBodyBytes, cancellation: cancellation, sink: request.sink)
        context.upload = request.upload
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        if request.upload != nil {
            try set(zedge_curl_setopt_read_function(handle) { buffer, size, count, userdata in
                guard let userdata, let buffer else { return Int(CURL_READFUNC_ABORT) }
                let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
                guard let upload = context.upload else { return Int(CURL_READFUNC_ABORT) }
                let read = upload.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
                return read < 0 ? Int(CURL_READFUNC_ABORT) : read
            }, "READFUNCTION")
            try set(zedge_curl_setopt_pointer(handle, CURLOPT_READDATA, opaque), "READDATA")
        }
        try set(zedge_curl_setopt_write_function(handle) { data, size, count, userdata in
            guard let userdata else { return 0 }
            let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
            let length = size * count
            guard length > 0, let data else { return length }
            if let sink = context.sink {
                guard context.beginSink() else { return 0 }  // Aborts with CURLE_WRITE_ERROR.
                guard sink.receive(UnsafeRawBufferPointer(start: data, count: length)) else {
                    context.sinkAborted = true
                    return 0
                }
                context.sinkBytes += Int64(length)
                return length
            }
            guard context.body.count + length <= context.maxBodyBytes else {
                context.bodyTooLarge = true
                return 0  // Aborts the transfer with CURLE_WRITE_ERROR.
            }
            context.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length)
            return length
        }, "WRITEFUNCTION")
        try set(zedge_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, opaque), "WRITEDATA")
        try set(zedge_curl_setopt_header_function(handle) { data, size, count, userdata in
            guard let userdata else { return 0 }
            let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
            let length = size * count
            guard length > 0, let data else { return length }
            let line = UnsafeRawBufferPointer(start: data, count: length)
            context.headerLine(String(decoding: line, as: UTF8.self))
            return length
        }, "HEADERFUNCTION")
        try set(zedge_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, opaque), "HEADERDATA")
        try set(zedge_curl_setopt_xferinfo_function(handle) { userdata, _, _, _, uploaded in
            guard let userdata else { return 0 }
            let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
            context.upload?.progress(sent: Int64(uploaded))
            return context.cancellation.isCancelled ? 1 : 0
        }, "XFERINFOFUNCTION")
        try set(zedge_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, opaque), "XFERINFODATA")
        try set(zedge_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0), "NOPROGRESS")

        let code = withExtendedLifetime(context) { curl_easy_perform(handle) }

        if code == CURLE_ABORTED_BY_CALLBACK, cancellation.isCancelled { throw CancellationError() }
        if context.sink != nil {
            var speed: curl_off_t = 0
            if zedge_curl_getinfo_off_t(handle, CURLINFO_SPEED_DOWNLOAD_T, &speed) == CURLE_OK { context.averageSpeed = Int64(speed) }
            if context.sinkAborted {
                return (context.status, context.headers, context)
            }
            if code == CURLE_OK, !context.beginSink() {  // A response without a body: the sink still sees it.
                return (context.status, context.headers, context)
            }
        }
        if context.bodyTooLarge {
            throw TransportError(
                CURLE_WRITE_ERROR,
                detail: "response body from \(request.url) exceeds the \(maxBodyBytes)-byte limit; transfer aborted"
            )
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer).trimmed()
            throw TransportError(code, detail: detail.isEmpty ? "\(method) \(request.url)" : "\(method) \(request.url): \(detail)")
        }
        var status = 0
        try set(zedge_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status), "RESPONSE_CODE")
        return (status, context.headers, context)
    }

    /// RFC 9110 `tchar`: what a method or header name may contain.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Whole milliseconds, at least 1 (0 would mean "no timeout" to curl).
    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }
        guard seconds < Int64(Int.max / 1000) - 1 else { return Int.max }
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// Set from the cancellation handler (any thread), read by the progress callback on the client's queue.
private final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
    func cancel() { flag.store(true, ordering: .relaxed) }
}

/// State of one transfer, reached from the C callbacks through their `void*`. Used only on the client's queue.
private final class TransferContext {
    let maxBodyBytes: Int
    let cancellation: CancellationFlag
    var body = Data()
    var headers: [String: String] = [:]
    var bodyTooLarge = false
    /// The status of the latest response's status line.
    var status = 0
    /// Downloads: where the body goes instead of `body`.
    let sink: (any CurlDownloadSink)?
    var sinkBegun = false
    var sinkAccepted = false
    var sinkAborted = false
    var sinkBytes: Int64 = 0
    var averageSpeed: Int64 = 0
    /// Uploads: the body's source.
    var upload: (any CurlUploadSource)?

    init(maxBodyBytes: Int, cancellation: CancellationFlag, sink: (any CurlDownloadSink)? = nil) {
        self.maxBodyBytes = maxBodyBytes
        self.cancellation = cancellation
        self.sink = sink
    }

    /// Calls `sink.begin` once; false (and `sinkAborted`) when the sink refuses the response.
    func beginSink() -> Bool {
        guard let sink else { return true }
        if !sinkBegun {
            sinkBegun = true
            sinkAccepted = sink.begin(status: status, headers: headers)
            if !sinkAccepted { sinkAborted = true }
        }
        return sinkAccepted
    }

    func headerLine(_ raw: String) {
        let line = raw.trimmed()
        if line.hasPrefix("HTTP/") {
            headers = [:]  // A new response (after a 100 Continue, say): keep only the final one's headers.
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmed().lowercased()
        let value = line[line.index(after: colon)...].trimmed()
        guard !name.isEmpty else { return }
        if let existing = headers[name] {
            headers[name] = existing + ", " + value
        } else {
            headers[name] = value
        }
    }
}

/// Where `CurlHTTPClient.download` puts a response body. Both methods run on the client's queue, one transfer
/// at a time; a sink is used by one download.
public protocol CurlDownloadSink: AnyObject, Sendable {
    /// Called once, before the first body byte (or at the end for a response without one), with the final
    /// response's status and headers (lowercased names). Return false to abort the transfer.
    func begin(status: Int, headers: [String: String]) -> Bool
    /// The next chunk of the body. Return false to abort the transfer.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool
}

/// Where `CurlHTTPClient.upload` reads a request body from. Both methods run on the client's queue, one transfer
/// at a time; a source is used by one upload.
public protocol CurlUploadSource: AnyObject, Sendable {
    /// The body's length in bytes (sent as `Content-Length`).
    var totalBytes: Int64 { get }
    /// Fills `buffer` with the next bytes; returns how many (0 at the end), or -1 to abort the transfer.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// Bytes sent so far (called often, also with no change).
    func progress(sent: Int64)
}

extension CurlHTTPClient.TrustMode {
    /// Sets how `handle` checks the server's certificate: the one place for it, shared by requests
    /// (`CurlHTTPClient`) and WebSockets (`CurlWebSocket`).
    func apply(to handle: UnsafeMutableRawPointer) throws {
        func set(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else { throw TransportError(code, detail: "setting \(what)") }
        }
        switch self {
        case .caPEM(let pem):
            try Array(pem.utf8).withUnsafeBytes { raw in
                var blob = curl_blob(
                    data: UnsafeMutableRawPointer(mutating: raw.baseAddress),
                    len: raw.count,
                    flags: UInt32(CURL_BLOB_COPY)
                )
                try set(zedge_curl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, &blob), "CAINFO_BLOB")
            }
            // The blob replaces CURLOPT_CAINFO; also drop the default CA directory so only this CA counts.
            try set(zedge_curl_setopt_string(handle, CURLOPT_CAPATH, nil), "CAPATH")
            try set(zedge_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1), "SSL_VERIFYPEER")
            try set(zedge_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2), "SSL_VERIFYHOST")
        case .insecureForPinning:
            try set(zedge_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0), "SSL_VERIFYPEER")
            try set(zedge_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0), "SSL_VERIFYHOST")
        case .system:
            try set(zedge_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1), "SSL_VERIFYPEER")
            try set(zedge_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2), "SSL_VERIFYHOST")
        }
    }
}
