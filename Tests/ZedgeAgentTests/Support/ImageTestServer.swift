import Foundation
import ZedgeTestSupport
import Testing
@testable import ZedgeAgent
import ZedgeCore
@testable import ZedgeTransport
import Crypto

/// A real HTTPS server on loopback (Python's http.server, with the test PKI's certificate) that plays the
/// coordinator's `GET /agent/v1/image-versions/{versionId}/file`: bearer credential, `Range: bytes=N-` (206 with
/// Content-Range, 416 past the end), and per-version misbehaviour for the tests: drop the connection after some
/// bytes, flip one byte, ignore Range. Every request is logged to `requests.jsonl` (what the tests count).
final class ImageTestServer: @unchecked Sendable {
    static let credential = "zac_test-credential"

    /// How the server treats one version's file.
    struct Behaviour: Codable, Sendable {
        var path: String
        /// The first `drops` requests send `dropAfter` bytes of their body, then cut the connection.
        var drops = 0
        var dropAfter: Int64 = 0
        /// The first `corruptions` requests send the byte at the middle of the file flipped.
        var corruptions = 0
        /// Answer 200 with the whole file even when asked for a range.
        var ignoreRange = false
        /// Sleep this long (seconds) between 64 KiB chunks: a slow link, so a test can act mid-download.
        var chunkDelay = 0.0
        /// The first `holds` requests stop after `holdAfter` bytes of the file until `release(version)` (or
        /// 120 s): the download is then mid-way for as long as a test needs, however loaded the machine.
        var holds = 0
        var holdAfter: Int64 = 0
    }

    struct LoggedRequest: Decodable, Sendable {
        var path: String
        var range: String?
        var authorized: Bool
        var status: Int
        var sent: Int64
    }

    private static let script = #"""
    import json, os, signal, ssl, sys, threading, time
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    lock = threading.Lock()
    counts = {}   # (version, what) -> times used

    def take(version, what, limit):
        with lock:
            used = counts.get((version, what), 0)
            if used < limit:
                counts[(version, what)] = used + 1
                return True
            return False

    def now_iso(offset):
        t = time.time() + offset
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)

    def record(name, obj):
        with lock:
            with open(name, "a") as f:
                f.write(json.dumps(obj) + "\n")

    class AgentState:
        """Tasks from tasks.jsonl, leased for `lease` seconds (config.json), handed out again when the lease
        runs out without an event or result; calls from calls.jsonl, each handed out once."""
        def __init__(self):
            self.tasks = {}
            self.order = []
            self.calls_seen = set()
            self.tasks_read = 0
            self.calls_read = 0

        def lease_seconds(self):
            try:
                with open("config.json") as f:
                    return json.load(f).get("lease", 30)
            except OSError:
                return 30

        def take(self):
            with lock:
                now = time.time()
                if os.path.exists("tasks.jsonl"):
                    lines = open("tasks.jsonl").read().splitlines()
                    for line in lines[self.tasks_read:]:
                        t = json.loads(line)
                        self.tasks[t["id"]] = {"task": t, "status": "queued", "attempt": 0, "until": 0}
                        self.order.append(t["id"])
                    self.tasks_read = len(lines)
                out = []
                for tid in self.order:
                    st = self.tasks[tid]
                    if st["status"] == "leased" and now > st["until"]:
                        st["status"] = "queued"
                    if st["status"] == "queued":
                        st["status"] = "leased"
                        st["attempt"] += 1
                        st["until"] = now + self.lease_seconds()
                        t = dict(st["task"])
                        t["attempt"] = st["attempt"]
                        t["leaseExpiresAt"] = now_iso(self.lease_seconds())
                        out.append(t)
                        with open("deliveries.jsonl", "a") as d:
                            d.write(json.dumps({"task": tid, "attempt": st["attempt"], "at": now}) + "\n")
                calls = []
                if os.path.exists("calls.jsonl"):
                    lines = open("calls.jsonl").read().splitlines()
                    calls = [json.loads(line) for line in lines[self.calls_read:]]
                    self.calls_read = len(lines)
                return out, calls

        def touch(self, task, done):
            with lock:
                st = self.tasks.get(task)
                if st is None:
                    return
                if done:
                    st["status"] = "done"
                elif st["status"] == "leased":
                    st["until"] = time.time() + self.lease_seconds()

    agent_state = AgentState()

    def log(entry):
        with lock:
            with open("requests.jsonl", "a") as f:
                f.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def problem(self, status, detail):
            body = json.dumps({"title": "error", "status": status, "detail": detail}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return status

        def authorized(self):
            return self.headers.get("Authorization") == "Bearer " + open("token").read().strip()

        def reply_json(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/agent/v1/tasks"):
                return self.poll()
            entry = {"path": self.path, "range": self.headers.get("Range"), "sent": 0, "status": 0,
                     "authorized": self.authorized()}
            try:
                entry["status"] = self.serve(entry)
            finally:
                log(entry)

        # --- A small stand-in for the coordinator's agent API (tasks with leases, events, results, calls). ---

        def poll(self):
            if not self.authorized():
                return self.problem(401, "missing or wrong agent credential")
            wait = 1.0
            deadline = time.time() + wait
            while True:
                tasks, calls = agent_state.take()
                if tasks or calls or time.time() >= deadline:
                    return self.reply_json(200, {"tasks": tasks, "calls": calls})
                time.sleep(0.05)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            if not self.authorized():
                return self.problem(401, "missing or wrong agent credential")
            parts = self.path.split("/")
            if self.path == "/agent/v1/heartbeat":
                record("heartbeats.jsonl", body)
                return self.reply_json(200, {"heartbeatIntervalS": 1, "serverTime": now_iso(0)})
            if len(parts) == 6 and parts[3] == "tasks" and parts[5] in ("events", "result"):
                task = parts[4].lower()
                record(parts[5] + ".jsonl", {"task": task, "at": time.time(), "body": body})
                agent_state.touch(task, done=parts[5] == "result")
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if len(parts) == 6 and parts[3] == "calls" and parts[5] == "answer":
                record("answers.jsonl", {"call": parts[4].lower(), "at": time.time(), "body": body})
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.problem(404, "no such route")

        def serve(self, entry):
            parts = self.path.split("/")
            if len(parts) != 6 or parts[1:4] != ["agent", "v1", "image-versions"] or parts[5] != "file":
                return self.problem(404, "no such route")
            if not entry["authorized"]:
                return self.problem(401, "missing or wrong agent credential")
            version = parts[4]
            with open("images.json") as f:
                images = json.load(f)
            b = images.get(version)
            if b is None:
                return self.problem(404, "ImageVersion not found")
            size = os.path.getsize(b["path"])
            start = 0
            rng = self.headers.get("Range")
            if rng and not b.get("ignoreRange"):
                if not rng.startswith("bytes=") or not rng[6:].endswith("-"):
                    return self.problem(400, "unsupported range")
                start = int(rng[6:-1])
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return 416
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
                status = 206
            else:
                self.send_response(200)
                status = 200
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            drop = take(version, "drop", b.get("drops", 0))
            limit = start + b.get("dropAfter", 0) if drop else size
            corrupt = take(version, "corrupt", b.get("corruptions", 0))
            middle = size // 2
            delay = b.get("chunkDelay", 0.0)
            hold = b.get("holdAfter", 0) if take(version, "hold", b.get("holds", 0)) else None
            with open(b["path"], "rb") as f:
                f.seek(start)
                pos = start
                while pos < limit:
                    if hold is not None and pos >= hold:
                        self.wfile.flush()
                        deadline = time.time() + 120
                        while not os.path.exists("release-" + version) and time.time() < deadline:
                            time.sleep(0.05)
                        hold = None
                    chunk = f.read(min(65536 if delay else 1 << 20, limit - pos, (hold - pos) if hold is not None else 1 << 30))
                    if not chunk:
                        break
                    if corrupt and pos <= middle < pos + len(chunk):
                        chunk = bytearray(chunk)
                        chunk[middle - pos] ^= 0xFF
                        chunk = bytes(chunk)
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                        self.close_connection = True
                        return status
                    pos += len(chunk)
                    entry["sent"] = pos - start
                    if delay:
                        time.sleep(delay)
            if drop:
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
            return status

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain("server.pem", "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """#

    let pki: TransportTestPKI
    let dir: URL
    private let process = SpawnedProcess()
    let port: Int
    private var behaviours: [String: Behaviour] = [:]
    private let lock = NSLock()

    init() throws {
        pki = try TransportTestPKI()
        dir = pki.dir
        try Self.script.write(to: dir.appendingPathComponent("images.py"), atomically: true, encoding: .utf8)
        try Self.credential.write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try "{}".write(to: dir.appendingPathComponent("images.json"), atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", dir.appendingPathComponent("images.py").path]
        process.currentDirectoryURL = dir
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TransportToolFailure(description: "the Python image server did not start")
        }
        self.port = port
    }

    deinit { stop() }

    var baseURL: String { "https://127.0.0.1:\(port)" }

    /// A client for the agent's side, trusting the test CA, with the server's credential.
    func client(credential: String = ImageTestServer.credential) -> CoordinatorClient {
        CoordinatorClient(baseURL: baseURL, caPEM: pki.caPEM, credential: credential)
    }

    /// Serves `behaviour.path` as version `version`'s file.
    func serve(_ version: UUID, _ behaviour: Behaviour) throws {
        lock.lock()
        behaviours[version.uuidString.lowercased()] = behaviour
        let data = try JSONEncoder().encode(behaviours)
        lock.unlock()
        let temporary = dir.appendingPathComponent("images.json.tmp")
        try data.write(to: temporary)
        guard rename(temporary.path, dir.appendingPathComponent("images.json").path) == 0 else {
            throw TransportToolFailure(description: "cannot update images.json")
        }
    }

    // MARK: The agent API stand-in

    /// Queues a task (handed out on the next poll, again when its lease runs out without an event or result).
    func enqueue(_ kind: TaskKind, _ payload: some Encodable, id: UUID = UUID()) throws -> UUID {
        let task: JSONValue = ["id": .string(id.uuidString.lowercased()), "kind": .string(kind.rawValue),
                               "payload": try JSONValue(encoding: payload)]
        try append("tasks.jsonl", task)
        return id
    }

    /// Queues an agent call (handed out once).
    func enqueue(call: AgentCall) throws { try append("calls.jsonl", try JSONValue(encoding: call)) }

    /// Lease length for tasks handed out from now on, seconds.
    func setLease(seconds: Int) throws {
        try Data(#"{"lease": \#(seconds)}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
    }

    private func append(_ file: String, _ value: JSONValue) throws {
        lock.lock()
        defer { lock.unlock() }
        var line = try ZedgeJSON.encoder().encode(value)
        line.append(0x0A)
        let url = dir.appendingPathComponent(file)
        if let handle = try? FileHandle(forWritingTo: url) {
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
            try handle.close()
        } else {
            try line.write(to: url)
        }
    }

    struct Posted: Sendable {
        var id: String
        var at: Double
        var body: JSONValue
    }

    /// What agents posted: `results`, `events` (per task), `answers` (per call), in arrival order.
    func posted(_ file: String, key: String) -> [Posted] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let value = try? ZedgeJSON.decoder().decode(JSONValue.self, from: Data(line.utf8)),
                  case .string(let id)? = value[key], case .number(let at)? = value["at"] else { return nil }
            return Posted(id: id, at: at, body: value["body"] ?? .null)
        }
    }

    /// Lets held downloads of `version` go on.
    func release(_ version: UUID) {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("release-\(version.uuidString.lowercased())").path, contents: nil)
    }

    /// How often each task was handed out (by lowercased id).
    func deliveries() -> [String: Int] {
        deliveryTimes().mapValues(\.count)
    }

    /// When each task was handed out (server time, seconds since 1970, by lowercased id).
    func deliveryTimes() -> [String: [Double]] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("deliveries.jsonl"), encoding: .utf8) else { return [:] }
        var times: [String: [Double]] = [:]
        for line in text.split(separator: "\n") {
            if let value = try? ZedgeJSON.decoder().decode(JSONValue.self, from: Data(line.utf8)), case .string(let id)? = value["task"],
               case .number(let at)? = value["at"] {
                times[id, default: []].append(at)
            }
        }
        return times
    }

    /// For a failure message: each task handed out more than once, with when (seconds after its first delivery)
    /// and the longest silence of its events before its second delivery, the gap that let its lease run out.
    func redeliveries() -> String {
        let events = self.events()
        return deliveryTimes().filter { $0.value.count > 1 }.map { id, times in
            let first = times[0]
            let stamps = [first] + events.filter { $0.id == id && $0.at < times[1] }.map(\.at) + [times[1]]
            let gap = zip(stamps, stamps.dropFirst()).map { $1 - $0 }.max() ?? 0
            let at = times.map { String(format: "%.1f", $0 - first) }.joined(separator: ", ")
            return "\(id): delivered at +[\(at)] s; longest silence before the second \(String(format: "%.1f", gap)) s"
        }.sorted().joined(separator: "; ")
    }

    func results() -> [Posted] { posted("result.jsonl", key: "task") }
    func events() -> [Posted] { posted("events.jsonl", key: "task") }
    func answers() -> [Posted] { posted("answers.jsonl", key: "call") }

    /// The heartbeats' bodies.
    func heartbeats() -> [JSONValue] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("heartbeats.jsonl"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? ZedgeJSON.decoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }

    /// Waits (polling) until `condition` holds or `timeout` passes; returns whether it held.
    func waitUntil(timeout: Duration = .seconds(60), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    /// Every request so far for `version`'s file (all when nil).
    func requests(for version: UUID? = nil) -> [LoggedRequest] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("requests.jsonl"), encoding: .utf8) else { return [] }
        let all = text.split(separator: "\n").compactMap { try? JSONDecoder().decode(LoggedRequest.self, from: Data($0.utf8)) }
        guard let version else { return all }
        return all.filter { $0.path == ImageRef.downloadPath(versionId: version) }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            awaitTransportProcessExit(process)
        }
        pki.remove()
    }
}

/// A test image: `bytes` random bytes (raw) in a temp folder, with its reference.
struct TestImageFile {
    let path: String
    let ref: ImageRef
    let data: [UInt8]

    init(in directory: URL, bytes: Int, format: DiskFormat = .raw, seed: UInt64 = 1) throws {
        var generator = SplitMix(seed: seed)
        var data = [UInt8](repeating: 0, count: bytes)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices { words[i] = generator.next() }
        }
        path = directory.appendingPathComponent("image-\(UUID().uuidString.prefix(8)).img").path
        FileManager.default.createFile(atPath: path, contents: Data(data))
        self.data = data
        ref = ImageRef(imageId: UUID(), versionId: UUID(), sha256: CAPinning.hex(SHA256.hash(data: data)), sizeBytes: Int64(bytes),
                       virtualSizeBytes: Int64(bytes), format: format)
    }

    /// An image from an existing file (e.g. the test guest).
    init(existing path: String, format: DiskFormat, virtualSizeBytes: Int64? = nil) throws {
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        self.path = path
        self.data = data
        ref = ImageRef(imageId: UUID(), versionId: UUID(), sha256: CAPinning.hex(SHA256.hash(data: data)), sizeBytes: Int64(data.count),
                       virtualSizeBytes: virtualSizeBytes ?? Int64(data.count), format: format)
    }
}

/// A deterministic generator (SplitMix64), for reproducible test images.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A fresh temporary folder (0755, so libvirt's QEMU user can traverse it in real-libvirt tests).
func makeTestDirectory(_ tag: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-\(tag)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    return dir
}
