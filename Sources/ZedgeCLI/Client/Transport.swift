import Foundation
import ZedgeTransport

/// The coordinator's base URL and the libcurl client that reaches it (trusting exactly the pinned CA for
/// https; plain http only when the user wrote an `http://` URL).
public struct Transport: Sendable {
    /// `https://host:port` without a trailing slash.
    public let baseURL: String
    public let http: CurlHTTPClient
    /// Per request, connect to last byte.
    public let timeout: Duration

    public init(baseURL: String, caPEM: String?, timeout: Duration = .seconds(60)) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = CurlHTTPClient(trust: caPEM.map { .caPEM($0) } ?? .system, userAgent: "zedgectl/\(CLIVersion.current)",
                                   maxBodyBytes: 64 << 20)
        self.timeout = timeout
    }

    /// Sends one request; any status comes back (no problem mapping here).
    public func perform(_ method: String, _ pathAndQuery: String, headers: [String: String] = [:], body: Data? = nil) async throws -> APIResponse {
        try await http.send(method, url: baseURL + pathAndQuery, headers: headers, body: body, timeout: timeout)
    }

    /// Whether `url` is http:// (not https).
    public static func isPlainHTTP(_ url: String) -> Bool { url.lowercased().hasPrefix("http://") }

    /// Whether the URL's host is a loopback address or `localhost`.
    public static func isLoopback(_ url: String) -> Bool {
        guard let host = URLComponents(string: url)?.host?.lowercased() else { return false }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }
}
