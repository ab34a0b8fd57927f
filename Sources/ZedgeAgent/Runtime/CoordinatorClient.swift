import Foundation
import ZedgeCore

/// The agent's typed calls to the coordinator's `/agent/v1` API over libcurl.
public struct CoordinatorClient: Sendable {
    public let baseURL: String
    let http: CurlHTTPClient
    let credential: String?

    public init(baseURL: String, caPEM: String, credential: String?) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = CurlHTTPClient(trust: .caPEM(caPEM), userAgent: "zedge-agent/\(ZedgeVersion.current)")
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

    func call<Body: Encodable, Answer: Decodable>(
        _ method: String, _ path: String, body: Body, as: Answer.Type, timeout: Duration = .seconds(30)
    ) async throws -> Answer {
        var headers = ["Content-Type": "application/json", "Accept": "application/json"]
        if let credential { headers["Authorization"] = "Bearer \(credential)" }
        let response = try await http.send(method, url: baseURL + path, headers: headers,
                                           body: try ZedgeJSON.encoder().encode(body), timeout: timeout)
        guard (200..<300).contains(response.status) else {
            let problem = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]
            throw Refusal(status: response.status, detail: problem?["detail"] as? String ?? String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return try ZedgeJSON.decoder().decode(Answer.self, from: response.body)
    }
}
