import Foundation
import ZedgeCore
import ZedgeTransport

/// One answer of the coordinator: status, headers (lowercased names) and the body exactly as received (what
/// `-o json` prints). The transport's own response type, with JSON decoding for the CLI.
public typealias APIResponse = CurlHTTPClient.HTTPResponse

extension CurlHTTPClient.HTTPResponse {
    /// The body as JSON; `.null` for an empty body.
    /// - Throws: `CLIError.invalidResponse` when the body is not JSON.
    public func json() throws -> JSONValue {
        guard !body.isEmpty else { return .null }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            throw CLIError.invalidResponse("the coordinator answered HTTP \(status) with a body that is not JSON")
        }
    }
}
