import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ZedgeAgent
import ZedgeCore

/// `zedge-bench image-fetch`: an agent's image download (`ImageCache.fetch`: HTTPS with the agent's credential,
/// SHA-256 while it streams, fsync, rename) from a real coordinator on loopback, against the ceiling of `curl`
/// downloading the same file from the same coordinator with the same credential, to a file, in the same run. Each
/// round times both, one after the other; the table gives MiB/s (min, median and max) and the ratio of the medians.
///
/// The image is a raw file of random bytes uploaded through the API; the agent is registered with an enrollment
/// token and leases the version's `image.fetch` task from a prefetch (the coordinator serves a version's file only
/// to an agent that a leased task names it to).
struct ImageFetchBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image-fetch", abstract: "An agent's image download against curl's of the same file, from a real coordinator.")

    @Option(help: "The image's size in MiB.") var mib = 256
    @Option(help: "Rounds (each downloads the file once with curl and once through the agent's cache).") var rounds = 3
    @OptionGroup var coordinatorOptions: CoordinatorOptions

    func validate() throws {
        guard (1...16_384).contains(mib) else { throw ValidationError("--mib must be from 1 to 16384") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be from 1 to 20") }
    }

    private struct ImageBody: Encodable { var name: String; var imageType = "OS_BASE"; var visibility = "PUBLIC" }
    private struct VersionBody: Encodable { var versionNumber = "1.0.0" }
    private struct PrefetchBody: Encodable { var computeMachineIds: [UUID] }
    private struct Identified: Decodable { var id: UUID }

    func run() async throws {
        let registry = CleanupRegistry()
        let signalSources = registry.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-bench-fetch-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work + "/images", withIntermediateDirectories: true)
        registry.add(directory: work)
        print("zedge-bench image-fetch: a \(mib) MiB raw image, \(rounds) rounds, coordinator on \(coordinatorOptions.storeName), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        fflush(nil)
        let figures: (agent: Spread, curl: Spread)
        do {
            let server = try await BenchServer.start(.zedge, executable: coordinatorOptions.coordinatorPath, heartbeatInterval: 30,
                                                     databaseURL: coordinatorOptions.database, registry: registry)
            let options = RunOptions(agents: 1, interval: 30, duration: 1, concurrency: 4, saturationDuration: 0, wakeSamples: 0,
                                     wakeBudget: 1, pollWait: 30, rampRate: 1000, heartbeatConnections: 4, heartbeatsDuringWake: false)
            let fleet = FleetRun(server: server, options: options)
            figures = try await server.serving(as: "zedge") {
                try await fleet.withWire { wire in try await self.measure(fleet, wire, server: server, work: work) }
            }
        } catch {
            registry.cleanUpNow()
            throw error
        }
        registry.cleanUpNow()
        func cell(_ rates: Spread) -> String { String(format: "%.0f / %.0f / %.0f", rates.min, rates.median, rates.max) }
        print("")
        print("download                                      | MiB/s (min / median / max)")
        print("curl (ceiling: HTTPS to a file)               | \(cell(figures.curl))")
        print("agent ImageCache.fetch (+ SHA-256, fsync)     | \(cell(figures.agent))")
        print(String(format: "agent/curl (medians)                          | %.2f", figures.agent.median / figures.curl.median))
        print("\nBoth download the same file from the same coordinator on loopback, with the same agent credential.")
    }

    /// Sets up the agent and the image, then times the rounds.
    private func measure(_ fleet: FleetRun, _ wire: AgentWire, server: BenchServer, work: String) async throws -> (agent: Spread, curl: Spread) {
        let setup = try await fleet.prepare(wire)
        let (registered, _) = try await fleet.register(wire, setup)
        guard let agent = registered.agents.first else { throw BenchError("the agent did not register") }
        let (beat, _) = try await wire.send(wire.heartbeats, .POST, "/agent/v1/heartbeat", authorization: agent.authorization,
                                            body: try SimulatedFleet.heartbeatBody(0))
        guard beat == 200 else { throw BenchError("heartbeat: HTTP \(beat)") }

        let admin = setup.adminAuthorization
        let image = try await wire.json(wire.admin, .POST, "/api/v1/images", authorization: admin,
                                        body: ImageBody(name: "bench-fetch"), expecting: 201, as: Identified.self)
        let version = try await wire.json(wire.admin, .POST, "/api/v1/images/\(image.id)/versions", authorization: admin,
                                          body: VersionBody(), expecting: 201, as: Identified.self)
        var bytes = ByteBuffer()
        bytes.reserveCapacity(mib << 20)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<(mib << 17) { bytes.writeInteger(generator.next() as UInt64) }
        var upload = HTTPClientRequest(url: server.baseURL + "/api/v1/images/\(image.id)/versions/\(version.id)/file")
        upload.method = .PUT
        upload.headers.add(name: "authorization", value: admin)
        upload.headers.add(name: "content-type", value: "application/octet-stream")
        upload.body = .bytes(bytes)
        let uploaded = try await wire.admin.execute(upload, timeout: .seconds(600))
        _ = try await uploaded.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(uploaded.status.code) else { throw BenchError("upload: HTTP \(uploaded.status.code)") }
        let (_, versionBody) = try await wire.send(wire.admin, .GET, "/api/v1/images/\(image.id)/versions/\(version.id)", authorization: admin)
        guard let ref = try AgentWire.decode(ImageVersion.self, from: versionBody).imageRef else { throw BenchError("the version has no file") }

        // The coordinator serves the file only to an agent that a leased task names it to: prefetch, then lease.
        let (prefetched, answer) = try await wire.send(
            wire.admin, .POST, "/api/v1/images/\(image.id)/versions/\(version.id)/actions/prefetch", authorization: admin,
            body: try AgentWire.encode(PrefetchBody(computeMachineIds: [agent.machineId])))
        guard prefetched == 202 else { throw BenchError("prefetch: HTTP \(prefetched) \(String(buffer: answer).prefix(300))") }
        let (polled, poll) = try await wire.send(wire.polls, .GET, "/agent/v1/tasks?wait=10", authorization: agent.authorization)
        guard polled == 200, try AgentWire.decode(TaskPollResponse.self, from: poll).tasks.contains(where: { $0.kind == .imageFetch }) else {
            throw BenchError("the agent leased no image.fetch: HTTP \(polled) \(String(buffer: poll).prefix(300))")
        }

        let credential = String(agent.authorization.dropFirst("Bearer ".count))
        let caPath = work + "/ca.pem"
        try server.caPEM.write(toFile: caPath, atomically: true, encoding: .utf8)
        let downloader = ImageDownloader(client: CoordinatorClient(baseURL: server.baseURL, caPEM: server.caPEM, credential: credential))
        var logger = Logger(label: "zedge.bench.fetch")
        logger.logLevel = .warning
        let cache = ImageCache(directory: work + "/images", capacityBytes: 1 << 50, downloader: downloader, usage: { [] }, logger: logger)
        var agentRates: [Double] = [], curlRates: [Double] = []
        for round in 1...rounds {
            let curlStart = ContinuousClock.now
            try await Self.curl(["-sS", "--fail", "--cacert", caPath, "-H", "Authorization: Bearer \(credential)",
                                 "-o", work + "/curl.out", server.baseURL + ref.downloadPath])
            curlRates.append(Double(mib) / (ContinuousClock.now - curlStart).seconds)
            try? FileManager.default.removeItem(atPath: work + "/curl.out")
            let start = ContinuousClock.now
            let fetched = try await cache.fetch(ref)
            agentRates.append(Double(mib) / (ContinuousClock.now - start).seconds)
            guard !fetched.wasCached, fetched.downloadedBytes == ref.sizeBytes else { throw BenchError("round \(round): the fetch did not download") }
            guard await cache.evictIfNeeded(incomingBytes: 1 << 50).count == 1 else { throw BenchError("round \(round): nothing to evict") }
            FileHandle.standardError.write(Data(String(format: "round %d: curl %.0f MiB/s, agent %.0f MiB/s\n", round, curlRates.last!, agentRates.last!).utf8))
        }
        return (Spread(values: agentRates), Spread(values: curlRates))
    }

    /// Runs `/usr/bin/curl` off the cooperative pool and fails unless it exits 0.
    static func curl(_ arguments: [String]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue(label: "zedge.bench.curl").async {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                    process.arguments = arguments
                    try process.run()
                    process.waitUntilExit()
                    guard process.terminationStatus == 0 else { throw BenchError("curl exited \(process.terminationStatus)") }
                })
            }
        }
    }
}
