import Foundation

/// One invalid input field, as it appears in a problem+json `errors: [{field, message}]` array.
public struct FieldError: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The JSON field name (or path, e.g. "quotaConfig.cpuCores").
    public var field: String
    /// A short, human-readable reason that says what is expected.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Every field error found in one request; the coordinator maps it to a 400 problem response.
public struct ValidationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var errors: [FieldError]

    public init(errors: [FieldError]) { self.errors = errors }
    public init(_ error: FieldError) { self.errors = [error] }

    public var description: String { errors.map(\.description).joined(separator: "; ") }
}

/// Why an address, CIDR block or MAC address string did not parse.
public struct AddressParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
