import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import ZedgeCore

/// The harness's HTTPS clients, trusting only the server's own CA. Three pools, so that held long-polls
/// never starve heartbeats or the admin's enqueues:
/// - `polls`: one connection per agent's long-poll (as many as agents);
/// - `heartbeats`: heartbeats and task results, as many connections as are in flight at once, up to
///   `heartbeatConnections` (a real agent keeps its own; the harness shares a bounded pool so that it and the
///   server stay within RLIMIT_NOFILE: one process runs out of descriptors and libdispatch aborts it);
/// - `admin`: setup, registrations and enqueues.
struct AgentWire: Sendable {
    let baseURL: String
    let polls: HTTPClient
    let heartbeats: HTTPClient
    let admin: HTTPClient

    init(baseURL: String, caPEM: String, agents: Int, concurrency: Int, heartbeatConnections: Int) throws {
        self.baseURL = baseURL
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        tls.minimumTLSVersion = .tlsv12
        func client(connections: Int) -> HTTPClient {
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(30)), decompression: .disabled)
            configuration.httpVersion = .http1Only
            configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        }
        polls = client(connections: agents + 16)
        heartbeats = client(connections: max(concurrency, heartbeatConnections))
        admin = client(connections: max(concurrency, 16))
    }

    func shutdown() async {
        for client in [polls, heartbeats, admin] { try? await client.shutdown() }
    }

    /// One request; the body is read whole. Throws on transport errors and timeouts only.
    func send(
        _ client: HTTPClient, _ method: HTTPMethod, _ path: String, authorization: String?,
        body: ByteBuffer? = nil, timeout: TimeAmount = .seconds(30)
    ) async throws -> (status: UInt, body: ByteBuffer) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "user-agent", value: "zedge-bench")
        if let authorization { request.headers.add(name: "authorization", value: authorization) }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(body)
        }
        let response = try await client.execute(request, timeout: timeout)
        let collected = try await response.body.collect(upTo: 8 << 20)
        return (response.status.code, collected)
    }

    /// A JSON request that must answer `expecting`; its answer decoded as `Answer`.
    func json<Answer: Decodable>(
        _ client: HTTPClient, _ method: HTTPMethod, _ path: String, authorization: String?,
        body: some Encodable, expecting: UInt, as: Answer.Type
    ) async throws -> Answer {
        let (status, answer) = try await send(client, method, path, authorization: authorization, body: try Self.encode(body))
        guard status == expecting else {
            throw BenchError("\(method) \(path): HTTP \(status) \(String(buffer: answer).prefix(500))")
        }
        return try Self.decode(Answer.self, from: answer)
    }

    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try ZedgeJSON.encoder().encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try ZedgeJSON.decoder().decode(type, from: Data(buffer.readableBytesView))
    }
}
