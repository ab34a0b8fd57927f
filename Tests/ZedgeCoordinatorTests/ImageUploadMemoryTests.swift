import AsyncHTTPClient
import Foundation
import ZedgeTestSupport
import NIOCore
import NIOPosix
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// A 1 GiB upload into a real `zedge-coordinator serve` process does not raise its memory: the body streams to
/// disk in chunks. Plain HTTP (`--insecure-http`) keeps the CPU this test takes from the suite's other tests low;
/// TLS adds fixed-size record buffers, not a per-body cost. The bound is on the process's peak resident set
/// (`VmHWM` in /proc/<pid>/status, reset just before) over its resident set just before the upload (`VmRSS`): at most 64 MiB,
/// for a body sixteen times that. A memory bound, not a timing one; the throughput is printed, not asserted.
@Suite struct ImageUploadMemoryTests {
    static let boundMiB = 64

    @Test func aOneGiBUploadStaysWithinItsMemoryBound() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-upload-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = SpawnedProcess()
        process.executableURL = ProcessRunner.executable("zedge-coordinator")
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", directory, "--log-level", "warning", "--insecure-http"]
        process.environment = ProcessInfo.processInfo.environment.merging(["ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": "upload-test-password"]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let printed = await ProcessRunner.read(out, until: "\n", process: process)
        let port = try #require(printed.split(separator: "\n").first?.split(separator: ":").last.flatMap { Int($0) }, "printed: \(printed)")
        let client = try APIClient(baseURL: "http://127.0.0.1:\(port)", caPEM: nil)
        // The big body is sent from a loop of its own, not from the loops the suite's in-process coordinators share.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let uploader = HTTPClient(eventLoopGroupProvider: .shared(loop))
        func measure() async throws {
            let token = try await client.login("admin", "upload-test-password").accessToken
            let image = try await client.post("/api/v1/images", token: token, ["name": "big", "imageType": "OS_BASE", "visibility": "PUBLIC"])
                .decode(Image.self)
            func newVersion(_ number: String) async throws -> ImageVersion {
                try await client.post("/api/v1/images/\(image.id)/versions", token: token, ["versionNumber": number]).decode(ImageVersion.self)
            }
            func put(_ version: ImageVersion, _ body: HTTPClientRequest.Body) async throws -> (Int, ImageVersion?) {
                var request = HTTPClientRequest(url: "\(client.baseURL)/api/v1/images/\(image.id)/versions/\(version.id)/file")
                request.method = .PUT
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
                request.body = body
                let response = try await uploader.execute(request, timeout: .seconds(1800))
                let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
                return (Int(response.status.code), try? ZedgeJSON.decoder().decode(ImageVersion.self, from: data))
            }

            // Warm up every path the big upload takes (TLS, the file system's thread pool, hashing).
            let warm = try await put(try await newVersion("warm"), .bytes(ByteBuffer(bytes: [UInt8](repeating: 1, count: 4 << 20))))
            #expect(warm.0 == 200)

            let chunk = ByteBuffer(bytes: [UInt8](repeating: 0, count: 1 << 20))
            let count = 1024
            // `head -c 1073741824 /dev/zero | sha256sum` (not recomputed here: the suite's other tests share this CPU).
            let sha = "49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14"

            // Reset the peak (VmHWM) to the current resident set, so that the peak below is this upload's.
            try? "5".write(toFile: "/proc/\(process.processIdentifier)/clear_refs", atomically: false, encoding: .utf8)
            let before = try Self.status(process.processIdentifier)
            let started = ContinuousClock.now
            let (status, version) = try await put(try await newVersion("v1"), .stream(RepeatedBody(chunk: chunk, count: count), length: .known(Int64(count) << 20)))
            let elapsed = ContinuousClock.now - started
            let after = try Self.status(process.processIdentifier)
            #expect(status == 200)
            #expect(version?.sizeBytes == 1 << 30 && version?.checksumSha256 == sha && version?.diskFormat == .raw)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let growth = (after.peakKiB - before.rssKiB) / 1024
            print("""
                1 GiB upload over HTTP (loopback, debug build): \(String(format: "%.0f", 1024 / seconds)) MiB/s; \
                RSS before \(before.rssKiB / 1024) MiB, after \(after.rssKiB / 1024) MiB, peak \(after.peakKiB / 1024) MiB \
                (growth \(growth) MiB, bound \(Self.boundMiB) MiB)
                """)
            #expect(growth < Self.boundMiB, "the peak RSS grew by \(growth) MiB during a 1 GiB upload")
            #expect(FileManager.default.fileExists(atPath: "\(directory)/images/sha256/\(sha.prefix(2))/\(sha)"))

        }
        do {
            try await measure()
        } catch {
            try? await client.shutdown()
            try? await uploader.shutdown()
            try? await loop.shutdownGracefully()
            throw error
        }
        try await client.shutdown()
        try await uploader.shutdown()
        try await loop.shutdownGracefully()
        kill(process.processIdentifier, SIGTERM)
        let stopBy = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < stopBy { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
    }

    /// `VmRSS` and `VmHWM` of a process, in KiB.
    static func status(_ pid: Int32) throws -> (rssKiB: Int, peakKiB: Int) {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) throws -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                  let value = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({ Int($0) }) else {
                throw TestFailure("no \(name) in /proc/\(pid)/status")
            }
            return value
        }
        return (try field("VmRSS"), try field("VmHWM"))
    }
}
