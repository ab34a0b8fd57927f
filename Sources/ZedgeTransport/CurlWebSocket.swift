import CCurl
import CWslay
import Crypto
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ZedgeCore

/// A WebSocket client (RFC 6455) for console tunnels (issue #16), used by the agent and by `zedgectl`.
///
/// Debian 12's libcurl (7.88) has no WebSocket support, so this connects with libcurl's connect-only mode
/// (`CURLOPT_CONNECT_ONLY`: TCP and TLS with the same pinned-CA checks as every other request, through
/// `CurlHTTPClient.TrustMode`), writes the HTTP/1.1 upgrade itself (RFC 6455 §4.1), checks the server's
/// `Sec-WebSocket-Accept`, and leaves the framing — masking, fragments, control frames, the closing handshake —
/// to wslay (Debian's `libwslay1`, ~30 KB). Nothing here runs an event loop of SwiftNIO's: `relay` blocks the
/// thread it runs on, and reads the other end on a thread of its own.
public final class CurlWebSocket: @unchecked Sendable {
    /// A refused upgrade: the server answered with something other than 101 (the problem's detail, if any).
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var status: Int
        public var detail: String
        public var description: String { "the WebSocket upgrade was refused with \(status): \(detail)" }
    }

    /// How a relay ended.
    public enum End: Sendable, Equatable {
        /// The server closed the WebSocket (close frame), with its status code (RFC 6455 §7.4; 1005 for none) and
        /// reason. Zedge's console refusals are 4000 + an HTTP status: 4403 a used or expired token, 4404 unknown.
        case closedByServer(code: UInt16, reason: String)
        /// The byte stream ended (or failed), and the WebSocket was closed from this side.
        case streamEnded
        /// `cancel()` was called.
        case cancelled
        /// The connection broke or the peer broke the protocol.
        case connectionLost(String)
    }

    /// The subprotocol the server chose (`Sec-WebSocket-Protocol`), if any.
    public let subprotocol: String?
    // Touched by the relay's thread only once `connect` has returned.
    private let handle: UnsafeMutableRawPointer
    private let socket: Int32
    /// Bytes that arrived with the upgrade response, after its header: the first frames.
    private var early: [UInt8]
    /// The wake-up pipe of `relay`'s poll loop (the reader thread and `cancel` write a byte to it).
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let cancelled = Atomic<Bool>(false)

    /// The GUID of RFC 6455 §1.3 that the accept key is derived with.
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// The largest message accepted from the server (wslay drops the connection beyond it).
    public static let maxMessageBytes = 16 << 20

    private init(handle: UnsafeMutableRawPointer, socket: Int32, early: [UInt8], subprotocol: String?) throws {
        self.handle = handle
        self.socket = socket
        self.early = early
        self.subprotocol = subprotocol
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TransportError(CURLE_FAILED_INIT, detail: "pipe: errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        curl_easy_cleanup(handle)
        close(wakeRead)
        close(wakeWrite)
    }

    /// Connects to `url` (`wss://`, `ws://`, `https://` or `http://`), sends the upgrade with `headers` (e.g.
    /// `Authorization`) and `protocols` (`Sec-WebSocket-Protocol`), and returns once the server has answered 101
    /// with the right accept key. Blocks for up to `timeout`.
    ///
    /// - Throws: `TransportError` (connection, TLS, timeout), `Refusal` (any answer but 101).
    public static func connect(url: String, headers: [String: String] = [:], protocols: [String] = [],
                               trust: CurlHTTPClient.TrustMode, timeout: Duration = .seconds(10)) throws -> CurlWebSocket {
        let target = try Target(url)
        guard CurlHTTPClient.globalInitCode == CURLE_OK.rawValue else {
            throw TransportError(CURLcode(rawValue: CurlHTTPClient.globalInitCode), detail: "curl_global_init failed")
        }
        guard let handle = curl_easy_init() else { throw TransportError(CURLE_FAILED_INIT, detail: "curl_easy_init returned NULL") }
        var owned = true
        defer { if owned { curl_easy_cleanup(handle) } }
        func set(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else { throw TransportError(code, detail: "setting \(what)") }
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        try set(zedge_curl_setopt_string(handle, CURLOPT_URL, target.curlURL), "URL")
        try set(zedge_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR")
        try set(zedge_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try set(zedge_curl_setopt_long(handle, CURLOPT_CONNECT_ONLY, 1), "CONNECT_ONLY")
        try set(zedge_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, max(1, Self.milliseconds(until: deadline))), "CONNECTTIMEOUT_MS")
        try trust.apply(to: handle)
        let connected = curl_easy_perform(handle)
        guard connected == CURLE_OK else {
            throw TransportError(connected, detail: "connecting to \(target.authority)")
        }
        var socket: curl_socket_t = -1
        try set(zedge_curl_getinfo_socket(handle, CURLINFO_ACTIVESOCKET, &socket), "ACTIVESOCKET")

        // RFC 6455 §4.1: a random 16-byte nonce, base64; the server proves it read it.
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(target.path) HTTP/1.1\r\nHost: \(target.authority)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nUser-Agent: zedge/\(ZedgeVersion.current)\r\n"
        if !protocols.isEmpty { request += "Sec-WebSocket-Protocol: \(protocols.joined(separator: ", "))\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            guard !name.contains(where: \.isNewline), !value.contains(where: \.isNewline) else {
                throw TransportError(CURLE_BAD_FUNCTION_ARGUMENT, detail: "a header holds a line break")
            }
            request += "\(name): \(value)\r\n"
        }
        request += "\r\n"
        try send(Array(request.utf8), handle: handle, socket: socket, deadline: deadline)
        let (head, rest) = try readHead(handle: handle, socket: socket, deadline: deadline)
        let response = try ResponseHead(head)
        guard response.status == 101 else {
            var body = rest
            if let length = response.headers["content-length"].flatMap(Int.init), length <= 64 << 10 {
                body = try readBody(upTo: length, after: rest, handle: handle, socket: socket, deadline: deadline)
            }
            let problem = try? ZedgeJSON.decoder().decode(JSONValue.self, from: Data(body))
            throw Refusal(status: response.status,
                          detail: problem?["detail"]?.stringValue ?? String(decoding: body.prefix(200), as: UTF8.self))
        }
        let expected = Data(Insecure.SHA1.hash(data: Data((key + acceptGUID).utf8))).base64EncodedString()
        guard response.headers["upgrade"]?.lowercased() == "websocket", response.headers["sec-websocket-accept"] == expected else {
            throw TransportError(CURLE_WEIRD_SERVER_REPLY, detail: "the server's 101 answer is not a WebSocket upgrade for this request")
        }
        let socketFD = Int32(socket)
        let webSocket = try CurlWebSocket(handle: handle, socket: socketFD, early: rest,
                                          subprotocol: response.headers["sec-websocket-protocol"])
        owned = false
        return webSocket
    }

    /// Ends a relay in progress from any thread: it closes the WebSocket (status 1000) and returns `.cancelled`.
    public func cancel() {
        cancelled.store(true, ordering: .releasing)
        wake()
    }

    /// Relays until either side ends: every binary or text message from the server is written to `stream`,
    /// and what `stream` reads is sent as binary messages. When the stream ends the WebSocket is closed with
    /// 1000; when the WebSocket closes or breaks the stream is shut down. Blocks the calling thread; reads
    /// `stream` on a thread of its own. Returns once both threads are done. Call it once.
    public func relay(_ stream: any ByteStream) -> End {
        let state = RelayState(handle: handle, early: early, stream: stream)
        early = []
        let reader = DispatchGroup()
        let wakeWrite = self.wakeWrite
        reader.enter()
        DispatchQueue(label: "zedge.websocket.reader").async {
            defer { reader.leave() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 << 10, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                // Backpressure: a slow WebSocket stops the reads rather than queueing without bound.
                while state.outgoingBytes() > 4 << 20, !state.isFinished() { usleep(5_000) }
                let count = (try? stream.read(into: buffer)) ?? 0
                state.enqueue(count > 0 ? Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) : nil)
                var byte: UInt8 = 1
                _ = write(wakeWrite, &byte, 1)
                if count <= 0 { return }
            }
        }
        let end = pump(state)
        state.finish()
        stream.shutdown()
        reader.wait()
        return end
    }

    // MARK: - The poll loop

    private func pump(_ state: RelayState) -> End {
        var callbacks = wslay_event_callbacks(
            recv_callback: { context, buffer, length, _, user in
                RelayState.from(user).receive(context, buffer, length)
            },
            send_callback: { context, data, length, _, user in
                RelayState.from(user).send(context, data, length)
            },
            genmask_callback: { _, buffer, length, _ in
                for i in 0..<length { buffer?[i] = UInt8.random(in: 0...255) }
                return 0
            },
            on_frame_recv_start_callback: nil, on_frame_recv_chunk_callback: nil, on_frame_recv_end_callback: nil,
            on_msg_recv_callback: { context, argument, user in
                guard let argument else { return }
                RelayState.from(user).message(context, argument.pointee)
            })
        var context: wslay_event_context_ptr?
        let user = Unmanaged.passUnretained(state).toOpaque()
        guard wslay_event_context_client_init(&context, &callbacks, user) == 0, let context else {
            return .connectionLost("wslay_event_context_client_init failed")
        }
        defer { wslay_event_context_free(context) }
        wslay_event_config_set_max_recv_msg_length(context, UInt64(Self.maxMessageBytes))

        var closeQueued = false
        var closeDeadline = ContinuousClock.now
        var end: End?
        // Frames that came with the upgrade's answer are read before the first poll.
        if wslay_event_recv(context) != 0 { return .connectionLost(state.failure ?? "reading the first frames failed") }
        while true {
            let (chunks, streamEnded) = state.takeOutgoing()
            for var chunk in chunks {
                chunk.withUnsafeMutableBufferPointer { bytes in
                    var message = wslay_event_msg(opcode: UInt8(WSLAY_BINARY_FRAME.rawValue), msg: bytes.baseAddress, msg_length: bytes.count)
                    _ = wslay_event_queue_msg(context, &message)
                }
            }
            if !closeQueued, streamEnded || state.streamFailed || cancelled.load(ordering: .acquiring) {
                end = cancelled.load(ordering: .acquiring) ? .cancelled : .streamEnded
                _ = wslay_event_queue_close(context, UInt16(WSLAY_CODE_NORMAL_CLOSURE.rawValue), nil, 0)
                closeQueued = true
                closeDeadline = ContinuousClock.now.advanced(by: .seconds(5))
            }
            if wslay_event_want_write(context) != 0, wslay_event_send(context) != 0 {
                return end ?? .connectionLost(state.failure ?? "sending failed")
            }
            let wantRead = wslay_event_want_read(context) != 0
            let wantWrite = wslay_event_want_write(context) != 0
            if !wantRead, !wantWrite {
                return serverClose(context, state, after: end) ?? end ?? .streamEnded
            }
            if closeQueued, ContinuousClock.now > closeDeadline { return end ?? .streamEnded }
            var fds = [
                pollfd(fd: socket, events: Int16((wantRead ? POLLIN : 0) | (wantWrite ? POLLOUT : 0)), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, 1_000)
            if ready < 0, errno != EINTR { return .connectionLost("poll: errno \(errno)") }
            if fds[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, wslay_event_recv(context) != 0 {
                return serverClose(context, state, after: end) ?? end ?? .connectionLost(state.failure ?? "the connection broke")
            }
        }
    }

    /// The server's close, when one was received and it is what the caller should hear: always when this side had
    /// not ended the relay, and also when it had but the server's code says something went wrong (anything but
    /// 1000, 1001 and 1005 — e.g. a 4409 refusal that crossed this side's own close, as when standard input is
    /// empty).
    private func serverClose(_ context: wslay_event_context_ptr, _ state: RelayState, after end: End?) -> End? {
        guard wslay_event_get_close_received(context) != 0 else { return nil }
        let code = wslay_event_get_status_code_received(context)
        guard end == nil || ![1000, 1001, 1005].contains(code) else { return nil }
        return .closedByServer(code: code, reason: state.closeReason)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - The handshake's I/O (blocking, until `deadline`)

    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int {
        let left = ContinuousClock.now.duration(to: deadline)
        return max(0, Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
    }

    private static func waitFor(_ events: Int32, socket: curl_socket_t, deadline: ContinuousClock.Instant) throws {
        let ms = milliseconds(until: deadline)
        guard ms > 0 else { throw TransportError(CURLE_OPERATION_TIMEDOUT, detail: "the WebSocket handshake timed out") }
        var fd = pollfd(fd: Int32(socket), events: Int16(events), revents: 0)
        _ = poll(&fd, 1, Int32(min(ms, 1_000)))
    }

    private static func send(_ bytes: [UInt8], handle: UnsafeMutableRawPointer, socket: curl_socket_t,
                             deadline: ContinuousClock.Instant) throws {
        var offset = 0
        while offset < bytes.count {
            var sent = 0
            let code = bytes.withUnsafeBytes { raw in curl_easy_send(handle, raw.baseAddress! + offset, raw.count - offset, &sent) }
            if code == CURLE_AGAIN { try waitFor(POLLOUT, socket: socket, deadline: deadline); continue }
            guard code == CURLE_OK else { throw TransportError(code, detail: "sending the WebSocket upgrade") }
            offset += sent
        }
    }

    /// Reads into `into` once some bytes are there; false at the end of the connection.
    private static func receive(_ into: inout [UInt8], handle: UnsafeMutableRawPointer, socket: curl_socket_t,
                                deadline: ContinuousClock.Instant) throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var count = 0
            let code = buffer.withUnsafeMutableBytes { curl_easy_recv(handle, $0.baseAddress, $0.count, &count) }
            if code == CURLE_AGAIN { try waitFor(POLLIN, socket: socket, deadline: deadline); continue }
            guard code == CURLE_OK else { throw TransportError(code, detail: "reading the WebSocket upgrade's answer") }
            into += buffer[0..<count]
            return count > 0
        }
    }

    /// The answer's header (up to its blank line) and the bytes after it. At most 16 KiB of header.
    private static func readHead(handle: UnsafeMutableRawPointer, socket: curl_socket_t,
                                 deadline: ContinuousClock.Instant) throws -> (String, [UInt8]) {
        var bytes: [UInt8] = []
        let blank: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let end = bytes.firstRange(of: blank) {
                return (String(decoding: bytes[..<end.lowerBound], as: UTF8.self), Array(bytes[end.upperBound...]))
            }
            guard bytes.count <= 16 << 10 else { throw TransportError(CURLE_WEIRD_SERVER_REPLY, detail: "the answer's header is over 16 KiB") }
            guard try receive(&bytes, handle: handle, socket: socket, deadline: deadline) else {
                throw TransportError(CURLE_GOT_NOTHING, detail: "the server closed the connection before answering the WebSocket upgrade")
            }
        }
    }

    private static func readBody(upTo length: Int, after first: [UInt8], handle: UnsafeMutableRawPointer, socket: curl_socket_t,
                                 deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var body = first
        while body.count < length, try receive(&body, handle: handle, socket: socket, deadline: deadline) {}
        return Array(body.prefix(length))
    }

    /// Where to connect: libcurl's URL (http or https) and the request's path and Host.
    struct Target {
        let curlURL: String
        let authority: String
        let path: String

        init(_ url: String) throws {
            let schemes = ["wss://": "https://", "ws://": "http://", "https://": "https://", "http://": "http://"]
            guard let (prefix, curlScheme) = schemes.first(where: { url.lowercased().hasPrefix($0.key) }) else {
                throw TransportError(CURLE_UNSUPPORTED_PROTOCOL, detail: "not a ws, wss, http or https URL: \(url)")
            }
            let rest = url.dropFirst(prefix.count)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            authority = String(rest[..<slash])
            path = slash == rest.endIndex ? "/" : String(rest[slash...])
            guard !authority.isEmpty, !url.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw TransportError(CURLE_URL_MALFORMAT, detail: "malformed URL: \(url)")
            }
            curlURL = curlScheme + authority + "/"
        }
    }

    /// The status and headers (names lower-cased) of the upgrade's answer.
    struct ResponseHead {
        let status: Int
        let headers: [String: String]

        init(_ text: String) throws {
            let lines = text.components(separatedBy: "\r\n")
            let parts = lines.first?.split(separator: " ", maxSplits: 2) ?? []
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                throw TransportError(CURLE_WEIRD_SERVER_REPLY, detail: "not an HTTP/1.1 answer: \(lines.first ?? "")")
            }
            self.status = status
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            self.headers = headers
        }
    }
}

/// What `relay`'s two threads share: the outgoing queue (filled by the reader thread) under a lock, and what
/// wslay's callbacks, which run on the pump's thread only, need.
private final class RelayState: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let stream: any ByteStream
    private var early: [UInt8]
    private var earlyOffset = 0
    /// Set by callbacks on the pump's thread only.
    private(set) var failure: String?
    private(set) var streamFailed = false
    /// The reason in the server's close frame (after its 2-byte code).
    private(set) var closeReason = ""
    private let outgoing = Mutex<(chunks: [[UInt8]], bytes: Int, ended: Bool, finished: Bool)>(([], 0, false, false))

    init(handle: UnsafeMutableRawPointer, early: [UInt8], stream: any ByteStream) {
        self.handle = handle
        self.early = early
        self.stream = stream
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> RelayState {
        Unmanaged<RelayState>.fromOpaque(user!).takeUnretainedValue()
    }

    // Reader thread.
    func enqueue(_ chunk: [UInt8]?) {
        outgoing.withLock { queue in
            if let chunk {
                queue.chunks.append(chunk)
                queue.bytes += chunk.count
            } else {
                queue.ended = true
            }
        }
    }

    func outgoingBytes() -> Int { outgoing.withLock { $0.bytes } }
    func isFinished() -> Bool { outgoing.withLock { $0.finished } }
    func finish() { outgoing.withLock { $0.finished = true } }

    // Pump thread.
    func takeOutgoing() -> ([[UInt8]], Bool) {
        outgoing.withLock { queue in
            defer { queue.chunks = []; queue.bytes = 0 }
            return (queue.chunks, queue.ended)
        }
    }

    func receive(_ context: wslay_event_context_ptr?, _ buffer: UnsafeMutablePointer<UInt8>?, _ length: Int) -> Int {
        if earlyOffset < early.count {
            let count = min(length, early.count - earlyOffset)
            early.withUnsafeBufferPointer { bytes in
                buffer!.update(from: bytes.baseAddress! + earlyOffset, count: count)
            }
            earlyOffset += count
            return count
        }
        var count = 0
        let code = curl_easy_recv(handle, buffer, length, &count)
        if code == CURLE_AGAIN {
            wslay_event_set_error(context, WSLAY_ERR_WOULDBLOCK.rawValue)
            return -1
        }
        if code != CURLE_OK || count == 0 {
            failure = code == CURLE_OK ? "the server closed the connection" : "receiving: \(String(cString: curl_easy_strerror(code)))"
            wslay_event_set_error(context, WSLAY_ERR_CALLBACK_FAILURE.rawValue)
            return -1
        }
        return count
    }

    func send(_ context: wslay_event_context_ptr?, _ data: UnsafePointer<UInt8>?, _ length: Int) -> Int {
        var count = 0
        let code = curl_easy_send(handle, data, length, &count)
        if code == CURLE_AGAIN {
            wslay_event_set_error(context, WSLAY_ERR_WOULDBLOCK.rawValue)
            return -1
        }
        guard code == CURLE_OK else {
            failure = "sending: \(String(cString: curl_easy_strerror(code)))"
            wslay_event_set_error(context, WSLAY_ERR_CALLBACK_FAILURE.rawValue)
            return -1
        }
        return count
    }

    func message(_ context: wslay_event_context_ptr?, _ argument: wslay_event_on_msg_recv_arg) {
        let opcode = argument.opcode
        if opcode == UInt8(WSLAY_CONNECTION_CLOSE.rawValue), let bytes = argument.msg, argument.msg_length > 2 {
            closeReason = String(decoding: UnsafeBufferPointer(start: bytes + 2, count: argument.msg_length - 2), as: UTF8.self)
            return
        }
        guard opcode == UInt8(WSLAY_BINARY_FRAME.rawValue) || opcode == UInt8(WSLAY_TEXT_FRAME.rawValue),
              !streamFailed, let bytes = argument.msg else { return }
        do {
            try stream.write(UnsafeRawBufferPointer(start: bytes, count: argument.msg_length))
        } catch {
            streamFailed = true
        }
    }
}
