import Foundation
import ZedgeCore

/// The coordinator's `/api/v1` as zedgectl uses it: JSON in and out, a bearer token from `TokenSource`
/// (refreshed once and retried after a 401), and any 4xx/5xx turned into `CLIError.api(Problem)`.
public struct APIClient: Sendable {
    public let transport: Transport
    public let tokens: TokenSource

    public init(transport: Transport, tokens: TokenSource) {
        self.transport = transport
        self.tokens = tokens
    }

    /// Sends one request and returns its 2xx answer.
    ///
    /// - Parameters:
    ///   - path: `/api/v1/…` without the query.
    ///   - query: name/value pairs, percent-encoded here.
    ///   - json: a JSON body (`content-type: application/json`).
    ///   - raw: a raw body with its content type instead.
    /// - Throws: `CLIError.api` for a 4xx/5xx answer, `TransportError` when the coordinator cannot be reached.
    @discardableResult
    public func send(_ method: String, _ path: String, query: [(String, String)] = [], json: JSONValue? = nil,
                     raw: (data: Data, contentType: String)? = nil) async throws -> APIResponse {
        var headers = ["accept": "application/json"]
        var body: Data?
        if let json {
            body = try Self.encode(json)
            headers["content-type"] = "application/json"
        } else if let raw {
            body = raw.data
            headers["content-type"] = raw.contentType
        }
        let target = path + Self.queryString(query)
        var token = try await tokens.bearer()
        var retried = false
        while true {
            var sent = headers
            if let token { sent["authorization"] = "Bearer \(token)" }
            let response = try await transport.perform(method, target, headers: sent, body: body)
            if response.status == 401, !retried, let fresh = try await tokens.refreshed(after: token) {
                token = fresh
                retried = true
                continue
            }
            guard (200..<300).contains(response.status) else {
                throw CLIError.api(Problem.parse(status: response.status, body: response.body))
            }
            return response
        }
    }

    /// `GET` of a list, following `nextCursor` until the last page; returns every item.
    public func listAll(_ path: String, query: [(String, String)] = []) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String?
        repeat {
            var parameters = query.filter { $0.0 != "cursor" && $0.0 != "limit" }
            parameters.append(("limit", "500"))
            if let cursor { parameters.append(("cursor", cursor)) }
            let page = try await send("GET", path, query: parameters).json()
            items += page["items"]?.arrayValue ?? []
            cursor = page["nextCursor"]?.stringValue
        } while cursor != nil
        return items
    }

    /// `?a=1&b=2`, or "" for no pairs.
    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return "?" + query.map { name, value in
            (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name) + "="
                + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }.joined(separator: "&")
    }

    /// Compact JSON with sorted keys.
    public static func encode(_ value: JSONValue) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// A path segment percent-encoded (ids are UUIDs; names of tags may hold anything).
    public static func segment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
