import Foundation
import ZedgeCore

/// Why a domain operation refused, independent of any transport: what services and the store throw.
///
/// Only the HTTP layer turns it into an RFC 9457 problem (`Problem(_ error: DomainError)`); the kinds map
/// one to one onto statuses there (invalid 422, unauthorized 401, forbidden 403, notFound 404, conflict 409,
/// tooLarge 413, rateLimited 429, unavailable 503). `message` is written for the caller and becomes the
/// problem's `detail`; `errors` name the fields at fault (DESIGN §3).
public struct DomainError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Input the document admits that the domain refuses: a rule across fields, an id that names nothing, a
        /// value that clashes with what exists (422, RFC 9110 §15.5.21). Malformed input never reaches a service.
        case invalid
        /// Missing, invalid or expired credentials.
        case unauthorized
        /// The caller is known but may not do this.
        case forbidden
        /// No such object, or one outside the caller's reach (never revealed as existing).
        case notFound
        /// The object's state forbids it: a unique key taken, an illegal transition, a parent with children,
        /// capacity gone, a concurrent change.
        case conflict
        /// A body or value over its limit.
        case tooLarge
        /// Too many attempts; `retryAfter` says when to try again.
        case rateLimited
        /// A dependency (the database) does not answer.
        case unavailable
    }

    public var kind: Kind
    public var message: String
    /// A short title when the kind's standard one says too little ("Quota exceeded").
    public var title: String?
    public var errors: [FieldError]
    /// Seconds, for `rateLimited`.
    public var retryAfter: Int?

    public init(_ kind: Kind, _ message: String, title: String? = nil, errors: [FieldError] = [], retryAfter: Int? = nil) {
        self.kind = kind
        self.message = message
        self.title = title
        self.errors = errors
        self.retryAfter = retryAfter
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

extension DomainError {
    /// Bad input with one or more fields named.
    public static func badRequest(_ message: String, errors: [FieldError] = []) -> DomainError {
        DomainError(.invalid, message, errors: errors)
    }

    public static func invalid(_ errors: [FieldError]) -> DomainError {
        DomainError(.invalid, "Invalid field(s): " + errors.map(\.field).joined(separator: ", "), title: "Unprocessable request", errors: errors)
    }

    public static func invalid(field: String, _ message: String) -> DomainError {
        invalid([FieldError(field: field, message: message)])
    }

    public static func unauthorized(_ message: String = "Missing, invalid or expired credentials.") -> DomainError {
        DomainError(.unauthorized, message)
    }

    public static func forbidden(_ message: String = "You are not allowed to do this.", field: String? = nil) -> DomainError {
        DomainError(.forbidden, message, errors: field.map { [FieldError(field: $0, message: message)] } ?? [])
    }

    /// "Instance not found.": never says whether the object exists in another tenant.
    public static func notFound(_ resource: String) -> DomainError {
        DomainError(.notFound, "\(resource) not found.")
    }

    public static func conflict(_ message: String, field: String? = nil) -> DomainError {
        DomainError(.conflict, message, errors: field.map { [FieldError(field: $0, message: message)] } ?? [])
    }

    public static func tooManyRequests(retryAfter seconds: Int) -> DomainError {
        DomainError(.rateLimited, "Too many attempts. Retry after \(seconds) seconds.", retryAfter: seconds)
    }

    public static func unavailable(_ message: String) -> DomainError {
        DomainError(.unavailable, message)
    }
}
