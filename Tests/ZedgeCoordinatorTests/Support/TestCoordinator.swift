import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// A real coordinator on a loopback port over HTTPS (its own CA), with a client that trusts only that CA.
struct TestCoordinator: Sendable {
    static let adminPassword = "admin-password-for-tests"

    let started: CoordinatorStarted
    let client: APIClient
    let configuration: CoordinatorConfiguration

    var baseURL: String { "\(started.scheme)://127.0.0.1:\(started.port)" }

    /// The operation once it is SUCCEEDED or FAILED, polled every 200 ms; as it is when `within` seconds pass first.
    func finishedOperation(_ id: UUID, token: String, within seconds: Int = 120) async throws -> ZedgeCore.Operation {
        var operation = try await client.get("/api/v1/operations/\(id)", token: token).decode(ZedgeCore.Operation.self)
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !operation.status.isTerminal, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            operation = try await client.get("/api/v1/operations/\(id)", token: token).decode(ZedgeCore.Operation.self)
        }
        return operation
    }

    /// Runs `body` against a fresh coordinator on `engine`, then stops it.
    static func with(
        _ engine: TestEngine,
        configure: (inout CoordinatorConfiguration) -> Void = { _ in },
        logs: LogCapture? = nil,
        _ body: (TestCoordinator) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("zedge-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let watch = StageWatch(engine)
        defer { watch.end() }
        var configuration = CoordinatorConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: directory,
            databaseURL: try await engine.makeDatabaseURL(in: directory),
            bootstrapAdminPassword: adminPassword, logLevel: .warning)
        // A test logs in once; on a loaded machine a long test outlived the 15-minute default and its calls got 401s
        // (a CI run with a build beside it: 1,113 s). A test of expiry sets its own.
        configuration.accessTokenLifetime = .seconds(6 * 3600)
        configure(&configuration)
        try await run(configuration, logs: logs, watch: watch, body)
    }

    /// Runs a coordinator with exactly this configuration (used to restart on the same data dir). With `logs`, every
    /// line it logs, at every level (trace and up), goes there instead.
    /// `watch`: the caller's stage watch (one of its own otherwise).
    static func run(_ configuration: CoordinatorConfiguration, logs: LogCapture? = nil, watch: StageWatch? = nil,
                    _ body: (TestCoordinator) async throws -> Void) async throws {
        let watch = watch ?? StageWatch(nil)
        defer { watch.end() }
        watch.enter(.starting)
        let logger = {
            if let logs {
                var logger = Logger(label: "zedge.test") { label in logs.handler(label: label) }
                logger.logLevel = .trace
                return logger
            }
            var logger = Logger(label: "zedge.test")
            logger.logLevel = configuration.logLevel
            return logger
        }()
        let (startedStream, continuation) = AsyncStream.makeStream(of: CoordinatorStarted.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await Coordinator.run(configuration: configuration, logger: logger, shutdownSignals: []) { started in
                    continuation.yield(started)
                }
            }
            var iterator = startedStream.makeAsyncIterator()
            guard let started = await iterator.next() else {
                try await group.next()  // surfaces the start-up error
                throw TestFailure("coordinator stopped before it started")
            }
            let client = try APIClient(baseURL: "\(started.scheme)://127.0.0.1:\(started.port)", caPEM: started.caCertificatePEM)
            let coordinator = TestCoordinator(started: started, client: client, configuration: configuration)
            watch.enter(.body)
            do {
                try await body(coordinator)
            } catch {
                watch.enter(.stopping)
                try? await client.shutdown()
                await started.shutdown()
                throw error
            }
            watch.enter(.stopping)
            try await client.shutdown()
            await started.shutdown()
            try await group.waitForAll()
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP answer, decoded lazily.
struct APIResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(text)")
        }
        return object
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try ZedgeJSON.decoder().decode(type, from: body)
        } catch {
            throw TestFailure("cannot decode \(T.self) from \(status) \(text): \(error)")
        }
    }

    /// The `field`s named in a problem+json `errors` array.
    var problemFields: [String] {
        guard let object = try? json(), let errors = object["errors"] as? [[String: Any]] else { return [] }
        return errors.compactMap { $0["field"] as? String }
    }
}

/// A JSON/HTTPS client for the coordinator that records every response body (for the secret-leak check).
final class APIClient: Sendable {
    let baseURL: String
    let http: HTTPClient
    private let recorded = Mutex<[String]>([])

    init(baseURL: String, caPEM: String?) throws {
        self.baseURL = baseURL
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caPEM {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        }
        // A request waits for one of the pool's connections up to the connect timeout: a suite that sends 100 at
        // once on a loaded CI machine waited over the 10 s default (ci15: getConnectionFromPoolTimeout).
        http = HTTPClient(eventLoopGroupProvider: .singleton,
                          configuration: .init(tlsConfiguration: tls, timeout: .init(connect: .seconds(60))))
    }

    func shutdown() async throws { try await http.shutdown() }

    /// Every response body seen so far.
    var responses: [String] { recorded.withLock { $0 } }

    func send(
        _ method: HTTPMethod, _ path: String, token: String? = nil, json: [String: Any]? = nil,
        rawBody: Data? = nil, headers: [(String, String)] = [], timeout: TimeAmount = .seconds(300)
    ) async throws -> APIResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "zedge-tests")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        } else if let rawBody {
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                request.headers.add(name: "Content-Type", value: "application/json")
            }
            request.body = .bytes(ByteBuffer(bytes: rawBody))
        }
        // Generous: every coordinator of the test process hashes passwords on one shared bcrypt pool (one thread
        // on two cores, 0.25 s a hash at cost 12), and under the whole suite a login can queue for over a minute.
        let response = try await http.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 16 << 20)
        let data = Data(buffer: body)
        recorded.withLock { $0.append(String(decoding: data, as: UTF8.self)) }
        if response.status == .created, path.hasPrefix("/api/") {
            try await checkLocation(response.headers, of: "\(method) \(path)", token: token)
        }
        return APIResponse(status: Int(response.status.code), headers: response.headers, body: data)
    }

    /// Issue #15: every create's `Location` resolves. Whatever a test creates through this client's `/api/`, the
    /// `Location` it answers with is fetched at once, as its creator, and must answer 200 (a missing one is a failure
    /// too). The agent protocol's registration (`/agent/v1/register`) makes credentials, not a resource to read.
    private func checkLocation(_ headers: HTTPHeaders, of request: String, token: String?) async throws {
        guard let location = headers.first(name: "Location") else {
            Issue.record("\(request) answered 201 without a Location")
            return
        }
        guard location.hasPrefix("/") else {
            Issue.record("\(request) answered a Location that is not a path on this server: \(location)")
            return
        }
        let fetched = try await send(.GET, location, token: token)
        if fetched.status != 200 {
            Issue.record("the Location of \(request), \(location), answered \(fetched.status): \(fetched.text)")
        }
    }

    func get(_ path: String, token: String?) async throws -> APIResponse { try await send(.GET, path, token: token) }
    func post(_ path: String, token: String?, _ json: [String: Any]) async throws -> APIResponse {
        try await send(.POST, path, token: token, json: json)
    }
    func patch(_ path: String, token: String?, _ json: [String: Any]) async throws -> APIResponse {
        try await send(.PATCH, path, token: token, json: json)
    }
    func delete(_ path: String, token: String?) async throws -> APIResponse { try await send(.DELETE, path, token: token) }

    /// Logs in; fails the test unless it succeeds.
    func login(_ username: String, _ password: String) async throws -> TokenPair {
        let response = try await post("/api/v1/auth/login", token: nil, ["username": username, "password": password])
        guard response.status == 200 else { throw TestFailure("login \(username): \(response.status) \(response.text)") }
        return try response.decode(TokenPair.self)
    }
}

extension TestCoordinator {
    /// The admin's access token.
    func adminToken() async throws -> String {
        try await client.login("admin", Self.adminPassword).accessToken
    }

    /// Creates a tenant as `token`'s caller and returns it.
    func createTenant(_ name: String, token: String) async throws -> Tenant {
        let response = try await client.post("/api/v1/tenants", token: token, ["name": name])
        guard response.status == 201 else { throw TestFailure("create tenant \(name): \(response.status) \(response.text)") }
        return try response.decode(Tenant.self)
    }

    /// Creates a user and logs it in; returns the user and its access token.
    func createUser(
        _ username: String, role: UserRole, tenant: UUID?, token: String, password: String = "password-\(UUID().uuidString.prefix(8))"
    ) async throws -> (user: User, token: String, password: String) {
        var body: [String: Any] = [
            "username": username, "email": "\(username)@example.com", "password": password, "role": role.rawValue,
        ]
        if let tenant { body["tenantId"] = tenant.uuidString }
        let response = try await client.post("/api/v1/users", token: token, body)
        guard response.status == 201 else { throw TestFailure("create user \(username): \(response.status) \(response.text)") }
        let user = try response.decode(User.self)
        return (user, try await client.login(username, password).accessToken, password)
    }
}
