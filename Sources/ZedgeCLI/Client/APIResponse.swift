import Foundation
import ZedgeCore

/// One answer of the coordinator: status, headers (lowercased names) and the body exactly as received.
public struct APIResponse: Sendable {
    public let status: Int
    public let headers: [String: String]
    /// The body bytes as the coordinator sent them (what `-o json` prints).
    public let body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

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
