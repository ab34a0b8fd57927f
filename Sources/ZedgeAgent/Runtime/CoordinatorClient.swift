#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore
import ZedgeTransport

/// The agent's typed calls to the coordinator's `/agent/v1` API over libcurl.
public struct CoordinatorClient: Sendable {
    public let baseURL: String
    let http: CurlHTTPClient
    /// How the coordinator's certificate is checked (the pinned CA); image downloads use their own handles.
    let trust: CurlHTTPClient.TrustMode
    let credential: String?

    public init(baseURL: String, caPEM: String, credential: String?) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.trust = .caPEM(caPEM)
        self.http = CurlHTTPClient(trust: trust, userAgent: "zedge-agent/\(ZedgeVersion.current)")
        self.credential = credential
    }

    /// A non-2xx answer, with the problem's detail when there is one.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var status: Int
        public var detail: String
        public var description: String { "the coordinator answered \(status): \(detail)" }
    }

    public func register(_ request: RegisterRequest) async throws -> RegisterResponse {
        try await call("POST", "/agent/v1/register", body: request, as: RegisterResponse.self)
    }

    public func heartbeat(_ request: HeartbeatRequest) async throws -> HeartbeatResponse {
        try await call("POST", "/agent/v1/heartbeat", body: request, as: HeartbeatResponse.self)
    }

    /// Waits up to `wait` seconds for tasks and calls (the transfer's timeout leaves room beyond the wait).
    /// `run` (`AgentRun.header`) names this agent process, so that the coordinator frees the leases of earlier ones.
    public func poll(wait: Int, run: UUID? = nil) async throws -> TaskPollResponse {
        try await call("GET", "/agent/v1/tasks?wait=\(wait)", body: Optional<String>.none, as: TaskPollResponse.self,
                       timeout: .seconds(wait + 15), headers: run.map { [AgentRun.header: $0.uuidString.lowercased()] } ?? [:])
    }

    /// `POST /agent/v1/calls/{id}/answer`: the answer to an agent call (the first answer wins).
    public func answer(_ call: UUID, _ answer: AgentCallAnswer) async throws {
        try await callWithoutAnswer("POST", "/agent/v1/calls/\(call.uuidString.lowercased())/answer", body: answer)
    }

    public func event(_ task: UUID, _ report: TaskEventReport) async throws {
        try await callWithoutAnswer("POST", "/agent/v1/tasks/\(task)/events", body: report)
    }

    public func result(_ task: UUID, _ report: TaskResultReport) async throws {
        try await callWithoutAnswer("POST", "/agent/v1/tasks/\(task)/result", body: report)
    }

    func callWithoutAnswer<Body: Encodable>(_ method: String, _ path: String, body: Body) async throws {
        _ = try await raw(method, path, body: body, timeout: .seconds(30))
    }

    func call<Body: Encodable, Answer: Decodable>(
        _ method: String, _ path: String, body: Body?, as: Answer.Type, timeout: Duration = .seconds(30),
        headers: [String: String] = [:]
    ) async throws -> Answer {
        try ZedgeJSON.decoder().decode(Answer.self, from: try await raw(method, path, body: body, timeout: timeout, headers: headers))
    }

    /// One request; a non-2xx answer is a `Refusal`. A nil body sends none.
    func raw<Body: Encodable>(_ method: String, _ path: String, body: Body?, timeout: Duration,
                              headers extra: [String: String] = [:]) async throws -> Data {
        var headers = extra
        headers["Accept"] = "application/json"
        if let credential { headers["Authorization"] = "Bearer \(credential)" }
        var data: Data?
        if let body {
            headers["Content-Type"] = "application/json"
            data = try ZedgeJSON.encoder().encode(body)
        }
        let response = try await http.send(method, url: baseURL + path, headers: headers, body: data, timeout: timeout)
        guard (200..<300).contains(response.status) else {
            let problem = try? ZedgeJSON.decoder().decode(JSONValue.self, from: response.body)
            throw Refusal(status: response.status, detail: problem?["detail"]?.stringValue ?? String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return response.body
    }
}
