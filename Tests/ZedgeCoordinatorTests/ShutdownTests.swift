import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// Graceful shutdown: the HTTP server stops first and drains, and only then do the background loops end,
/// so the liveness loop's last flush writes heartbeats that were still in flight when shutdown began.
@Suite struct ShutdownTests {
    @Test(arguments: TestEngine.all)
    func aHeartbeatInFlightWhenShutdownBeginsIsWritten(engine: TestEngine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-drain-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = CoordinatorConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: directory, databaseURL: try await engine.makeDatabaseURL(in: directory),
            bootstrapAdminPassword: TestCoordinator.adminPassword, logLevel: .warning)
        var machineId: UUID?
        try await TestCoordinator.run(configuration) { c in
            let f = try await AgentProtocolTests.Fixture.make(c)
            let registered = try await f.register(try await f.token()).decode(RegisterResponse.self)
            machineId = registered.machineId
            // The connection is open (keep-alive) before the heartbeat starts on it.
            #expect(try await c.client.get("/healthz", token: nil).status == 200)

            // The heartbeat's headers go out now; its body only once shutdown has begun.
            let body = try ZedgeJSON.encoder().encode(HeartbeatRequest(
                metrics: HostMetrics(cpuUsagePercent: 5, memoryUsagePercent: 5, diskUsagePercent: 5, temperature: 30, uptimeSeconds: 10),
                observedVms: [], agentVersion: "test"))
            let (chunks, writer) = AsyncStream.makeStream(of: ByteBuffer.self)
            var request = HTTPClientRequest(url: c.baseURL + "/agent/v1/heartbeat")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(registered.credential)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .stream(chunks, length: .known(Int64(body.count)))
            async let answer = c.client.http.execute(request, timeout: .seconds(60))
            try await Task.sleep(for: .milliseconds(500))
            await c.started.shutdown()
            try await Task.sleep(for: .milliseconds(500))
            writer.yield(ByteBuffer(bytes: body))
            writer.finish()
            let response = try await answer
            #expect(response.status == .ok)
            _ = try await response.body.collect(upTo: 1 << 20)
        }
        let id = try #require(machineId)
        // The next start reads what the last one wrote.
        try await TestCoordinator.run(configuration) { c in
            let machine = try await c.client.get("/api/v1/compute-machines/\(id)", token: try await c.adminToken())
                .decode(ComputeMachine.self)
            #expect(machine.lastHeartbeat != nil, "the heartbeat answered during the drain was not written")
        }
    }
}
