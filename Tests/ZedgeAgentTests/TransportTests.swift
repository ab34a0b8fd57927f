import Foundation
import ZedgeTestSupport
import Testing
@testable import ZedgeAgent
@testable import ZedgeTransport

// Tests of the agent's HTTP transport: CA pinning, and libcurl over real HTTPS on loopback
// (a CA and server certificate made with the openssl CLI, served by a small Python HTTPS server).

@Suite("Transport")
struct TransportTests {
    // MARK: Pins and fingerprints

    @Test func pinParsing() throws {
        let lower = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
        let bytes = try CAPinning.parsePin(lower)
        #expect(bytes.count == 32)
        #expect(bytes.prefix(8) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
        #expect(try CAPinning.parsePin("sha256:" + String(repeating: "0123456789ABCDEF", count: 4)) == bytes)
        #expect(try CAPinning.parsePin(lower + "\n") == bytes)

        let hex64 = String(repeating: "ab", count: 32)
        for bad in [hex64, "sha1:" + hex64, "sha256:" + hex64.dropLast(2), "sha256:" + hex64 + "ab",
                    "sha256:" + hex64.dropLast() + "g", "sha256:", ""] {
            #expect(throws: CAPinningError.self, "\(bad)") { try CAPinning.parsePin(String(bad)) }
        }
        do {
            _ = try CAPinning.parsePin(hex64)
            Issue.record("a pin without prefix was accepted")
        } catch let error as CAPinningError {
            guard case .invalidPin = error else { Issue.record("unexpected \(error)"); return }
            #expect(error.description.contains("sha256:"))
        }
    }

    @Test func fingerprintMatchesOpenSSL() throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let printed = try runTransportTool("/bin/sh", ["-c", "openssl x509 -in ca.pem -outform DER | sha256sum"], in: pki.dir)
        let expected = "sha256:" + (printed.split(separator: " ").first.map(String.init) ?? "")
        #expect(try CAPinning.fingerprint(ofPEM: pki.caPEM) == expected)
        #expect(try CAPinning.fingerprint(ofPEM: "junk before\n" + pki.caPEM + pki.otherCAPEM) == expected)
        #expect(throws: CAPinningError.noCertificate) { try CAPinning.fingerprint(ofPEM: "no certificate here") }
    }

    // MARK: HTTPS on loopback

    @Test func postEchoOverPinnedCA() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let client = CurlHTTPClient(trust: .caPEM(pki.caPEM), userAgent: "zedge-agent-test/1")
        let payload = Data(#"{"hello":"world","n":42}"#.utf8)
        let response = try await client.send(
            "POST", url: server.url("/echo"),
            headers: ["Content-Type": "application/json", "X-Zedge-Test": "yes"],
            body: payload, timeout: .seconds(10)
        )
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        let echo = try JSONDecoder().decode(TransportEcho.self, from: response.body)
        #expect(echo.method == "POST")
        #expect(echo.path == "/echo")
        #expect(Data(echo.body.utf8) == payload)
        #expect(echo.headers["x-zedge-test"] == "yes")
        #expect(echo.headers["user-agent"] == "zedge-agent-test/1")
        #expect(echo.headers["expect"] == nil)

        // The same handle again (connection reuse), with a GET, a DELETE and a 404.
        let get = try await client.send("GET", url: server.url("/echo"), timeout: .seconds(10))
        #expect(try JSONDecoder().decode(TransportEcho.self, from: get.body).method == "GET")
        let delete = try await client.send("DELETE", url: server.url("/echo"), timeout: .seconds(10))
        #expect(try JSONDecoder().decode(TransportEcho.self, from: delete.body).method == "DELETE")
        let missing = try await client.send("GET", url: server.url("/nope"), timeout: .seconds(10))
        #expect(missing.status == 404)
    }

    @Test func concurrentSendsOnOneClientAreSerialised() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let client = CurlHTTPClient(trust: .caPEM(pki.caPEM), userAgent: "zedge-agent-test")
        let url = server.url("/echo")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let response = try await client.send("PUT", url: url, body: Data("body-\(i)".utf8), timeout: .seconds(10))
                    let echo = try JSONDecoder().decode(TransportEcho.self, from: response.body)
                    #expect(echo.method == "PUT")
                    #expect(echo.body == "body-\(i)")
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func otherCAFailsVerification() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let client = CurlHTTPClient(trust: .caPEM(pki.otherCAPEM), userAgent: "zedge-agent-test")
        do {
            _ = try await client.send("GET", url: server.url("/echo"), timeout: .seconds(10))
            Issue.record("a server certificate from an unpinned CA was accepted")
        } catch let error as TransportError {
            #expect(error.isCertificateVerificationFailure, "\(error)")
        }
        // The system store does not know the test CA either.
        let system = CurlHTTPClient(trust: .system, userAgent: "zedge-agent-test")
        await #expect(throws: TransportError.self) {
            _ = try await system.send("GET", url: server.url("/echo"), timeout: .seconds(10))
        }
    }

    @Test func fetchPinnedCA() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let pin = try CAPinning.fingerprint(ofPEM: pki.caPEM)
        let pem = try await CAPinning.fetchPinnedCA(coordinator: server.url("/"), pin: pin.uppercased()
            .replacingOccurrences(of: "SHA256:", with: "sha256:"))
        #expect(try CAPinning.fingerprint(ofPEM: pem) == pin)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))

        // The fetched PEM then verifies the server.
        let client = CurlHTTPClient(trust: .caPEM(pem), userAgent: "zedge-agent-test")
        #expect(try await client.send("GET", url: server.url("/echo"), timeout: .seconds(10)).status == 200)

        let wrong = try CAPinning.fingerprint(ofPEM: pki.otherCAPEM)
        do {
            _ = try await CAPinning.fetchPinnedCA(coordinator: server.url(""), pin: wrong)
            Issue.record("a CA that does not match the pin was accepted")
        } catch let error as CAPinningError {
            #expect(error == .mismatch(expected: wrong, got: pin))
            #expect(error.description.contains("does not match --ca-hash"))
            #expect(error.description.contains("refusing to continue"))
        }
        await #expect(throws: CAPinningError.self) {
            _ = try await CAPinning.fetchPinnedCA(coordinator: server.url(""), pin: "sha256:1234")
        }
    }

    @Test func timeoutFailsWithTransportError() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let client = CurlHTTPClient(trust: .caPEM(pki.caPEM), userAgent: "zedge-agent-test")
        // /slow answers after 3 s: a client that waited for it gets a 200 and fails here. No wall-clock bound
        // (the machines are shared; a loaded one took 3.3 s to report the timeout).
        do {
            _ = try await client.send("GET", url: server.url("/slow"), timeout: .seconds(1))
            Issue.record("/slow answered within a 1 s timeout")
        } catch let error as TransportError {
            #expect(error.isTimeout, "\(error)")
        }
    }

    @Test func cancellationAbortsTransfer() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let client = CurlHTTPClient(trust: .caPEM(pki.caPEM), userAgent: "zedge-agent-test")
        let url = server.url("/slow")
        let task = Task { try await client.send("GET", url: url, timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }

    @Test func responseBodyOverCapIsRejected() async throws {
        let pki = try TransportTestPKI()
        defer { pki.remove() }
        let server = try TransportTestServer(pki: pki)
        defer { server.stop() }

        let client = CurlHTTPClient(trust: .caPEM(pki.caPEM), userAgent: "zedge-agent-test", maxBodyBytes: 64)
        do {
            _ = try await client.send("POST", url: server.url("/echo"), body: Data(count: 1000), timeout: .seconds(10))
            Issue.record("a body over the cap was accepted")
        } catch let error as TransportError {
            #expect(error.code == 23)  // CURLE_WRITE_ERROR
            #expect(error.message.contains("64-byte limit"))
        }
    }

    // MARK: Backoff

    @Test func backoffFullJitter() {
        var rng = TransportTestRNG(seed: 0x5eed)
        let base = Duration.milliseconds(100)
        let cap = Duration.seconds(10)
        var backoff = Backoff(base: base, cap: cap)
        var previousCeiling = Duration.zero
        for attempt in 0..<40 {
            let ceiling = backoff.currentCeiling
            let expected = attempt < 7 ? base * (1 << attempt) : cap  // 100 ms * 2^7 = 12.8 s > cap
            #expect(ceiling == expected, "attempt \(attempt)")
            if attempt > 0, attempt < 7 { #expect(ceiling == previousCeiling * 2) }
            previousCeiling = ceiling
            let delay = backoff.nextDelay(using: &rng)
            #expect(delay >= .zero && delay <= ceiling && delay <= cap, "attempt \(attempt): \(delay)")
        }

        // Jitter spreads over the whole range: many draws at the cap fill both halves.
        var high = 0
        for _ in 0..<1000 where backoff.nextDelay(using: &rng) > cap / 2 { high += 1 }
        #expect(high > 350 && high < 650)

        backoff.reset()
        #expect(backoff.attempt == 0)
        #expect(backoff.currentCeiling == base)
        #expect(backoff.nextDelay(using: &rng) <= base)

        // Same seed, same sequence.
        var a = Backoff(base: base, cap: cap), b = Backoff(base: base, cap: cap)
        var rngA = TransportTestRNG(seed: 7), rngB = TransportTestRNG(seed: 7)
        for _ in 0..<10 { #expect(a.nextDelay(using: &rngA) == b.nextDelay(using: &rngB)) }
    }
}

// MARK: - Fixtures

private struct TransportEcho: Decodable {
    let method: String
    let path: String
    let body: String
    let headers: [String: String]
}

/// A deterministic RandomNumberGenerator (SplitMix64).
private struct TransportTestRNG: RandomNumberGenerator {
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

struct TransportToolFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a command to completion in `dir`; returns its stdout, throws on a non-zero exit.
@discardableResult
func runTransportTool(_ executable: String, _ arguments: [String], in dir: URL) throws -> String {
    let process = SpawnedProcess()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = dir
    let stdout = Pipe(), stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    awaitTransportProcessExit(process)
    guard !process.isRunning, process.terminationStatus == 0 else {
        throw TransportToolFailure(description: "\(executable) \(arguments.joined(separator: " ")) exited "
            + "\(process.terminationStatus): \(String(decoding: err, as: UTF8.self))")
    }
    return String(decoding: out, as: UTF8.self)
}

/// Waits (up to 10 s) for `process` to exit, by polling: corelibs-foundation's `waitUntilExit` can hang when
/// several tests spawn and reap processes in parallel.
func awaitTransportProcessExit(_ process: SpawnedProcess) {
    for _ in 0..<1000 where process.isRunning { usleep(10_000) }
}

/// A throwaway PKI in a temp dir: a test CA, a server certificate it signed (SAN IP:127.0.0.1,
/// DNS:localhost), and an unrelated second CA.
struct TransportTestPKI {
    let dir: URL
    let caPEM: String
    let otherCAPEM: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-transport-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let openssl = "/usr/bin/env"
        let ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try runTransportTool(openssl, ["openssl", "req", "-x509"] + ecKey
            + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca"], in: dir)
        try runTransportTool(openssl, ["openssl", "req", "-x509"] + ecKey
            + ["-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=other-ca"], in: dir)
        try runTransportTool(openssl, ["openssl", "req"] + ecKey
            + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: dir)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            .write(to: dir.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        try runTransportTool(openssl, ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                              "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"], in: dir)
        caPEM = try String(contentsOf: dir.appendingPathComponent("ca.pem"), encoding: .utf8)
        otherCAPEM = try String(contentsOf: dir.appendingPathComponent("other.pem"), encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(at: dir)
    }
}

/// A Python HTTPS server on 127.0.0.1 (port chosen by the kernel) serving /agent/v1/ca.pem, /echo and /slow.
private final class TransportTestServer {
    private static let script = #"""
    import json, signal, ssl, sys, time
    signal.pthread_sigmask(signal.SIG_SETMASK, [])  # The mask is inherited from the spawning thread.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            if self.path == "/agent/v1/ca.pem":
                with open("ca.pem", "rb") as f:
                    self.reply(200, f.read(), "application/x-pem-file")
            elif self.path == "/echo":
                echo = {"method": self.command, "path": self.path,
                        "body": body.decode("utf-8", "replace"),
                        "headers": {k.lower(): v for k, v in self.headers.items()}}
                self.reply(200, json.dumps(echo).encode(), "application/json")
            elif self.path == "/slow":
                time.sleep(3)
                self.reply(200, b"slow\n", "text/plain")
            else:
                self.reply(404, b"not found\n", "text/plain")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain("server.pem", "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """#

    private let process = SpawnedProcess()
    let port: Int

    init(pki: TransportTestPKI) throws {
        let scriptURL = pki.dir.appendingPathComponent("server.py")
        try Self.script.write(to: scriptURL, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptURL.path]
        process.currentDirectoryURL = pki.dir
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()

        // The first stdout line is the port (EOF first means the server died).
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            kill(process.processIdentifier, SIGKILL)
            throw TransportToolFailure(description: "the Python HTTPS server did not start")
        }
        self.port = port
    }

    deinit { stop() }

    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

    /// SIGKILL, not SIGTERM: a child spawned from a worker thread inherits its blocked signal mask, so a
    /// SIGTERM could stay pending forever.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            awaitTransportProcessExit(process)
        }
    }
}
