#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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

extension FieldError {
    /// The field a decoding error is about, by its coding path ("spec.nics[0].mac"; `whole` when the path is
    /// empty), with what was expected: "is required", "must not be null", "must be an integer", or the
    /// decoder's own message (a `ZedgeEnum` says "must be one of A, B, C").
    public init(decoding error: DecodingError, whole: String = "body") {
        func path(_ codingPath: [any CodingKey]) -> String {
            var out = ""
            for key in codingPath {
                if let index = key.intValue {
                    out += "[\(index)]"
                } else {
                    out += out.isEmpty ? key.stringValue : "." + key.stringValue
                }
            }
            return out.isEmpty ? whole : out
        }
        switch error {
        case .keyNotFound(let key, let context):
            self.init(field: path(context.codingPath + [key]), message: "is required")
        case .valueNotFound(_, let context):
            self.init(field: path(context.codingPath), message: "must not be null")
        case .typeMismatch(let type, let context):
            self.init(field: path(context.codingPath), message: "must be \(Self.describe(type))")
        case .dataCorrupted(let context):
            // Foundation's own wording for a bad UUID or a raw value of a plain `RawRepresentable` enum is about Swift,
            // not the API; say what is expected instead.
            let message = context.debugDescription
            if message.hasPrefix("Attempted to decode UUID") {
                self.init(field: path(context.codingPath), message: "must be a UUID")
            } else if message.hasPrefix("Cannot initialize") {
                self.init(field: path(context.codingPath), message: "is not one of the values the API document lists for it")
            } else {
                self.init(field: path(context.codingPath), message: message)
            }
        @unknown default:
            self.init(field: whole, message: "invalid")
        }
    }

    /// "a string", "an integer", … for a decoding error's expected type.
    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "a boolean"
        case is UUID.Type: "a UUID"
        case is Date.Type: "an ISO-8601 date-time"
        default:
            "\(type)".hasPrefix("Array") ? "an array" : (("\(type)".hasPrefix("Dictionary")) ? "an object" : "of the right type")
        }
    }
}
