import Foundation
import Hummingbird
import ZedgeCore

/// An RFC 9457 problem: the one error shape every route answers with.
///
/// Thrown anywhere below a controller; `ProblemMiddleware` turns it (and every other error) into an
/// `application/problem+json` response so that bad input never surfaces as a 500.
public struct Problem: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String?
    public var errors: [FieldError]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        title: String? = nil,
        detail: String? = nil,
        errors: [FieldError] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    /// The RFC 9457 `type`: a stable URI per status, resolvable to the OpenAPI document's description.
    public var type: String { "https://zedge.dev/problems/\(status.code)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encoded())))
    }

    func encoded() -> Data {
        let body = Body(
            type: type, title: title, status: Int(status.code), detail: detail,
            errors: errors.isEmpty ? nil : errors
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(body)) ?? Data(#"{"status":500,"title":"Internal Server Error"}"#.utf8)
    }

    struct Body: Codable {
        var type: String
        var title: String
        var status: Int
        var detail: String?
        var errors: [FieldError]?
    }
}

extension Problem {
    /// 400 with one or more fields named.
    public static func badRequest(_ detail: String, errors: [FieldError] = []) -> Problem {
        Problem(.badRequest, title: "Invalid request", detail: detail, errors: errors)
    }

    /// 400: the request breaks a rule the OpenAPI document states (malformed JSON, an unknown field, a wrong type, a
    /// field outside its declared `FieldRule`, a query parameter out of range). The same request never succeeds.
    public static func malformed(_ errors: [FieldError]) -> Problem {
        let names = errors.map(\.field).joined(separator: ", ")
        return Problem(.badRequest, title: "Invalid request", detail: "Invalid field(s): \(names)", errors: errors)
    }

    public static func malformed(field: String, _ message: String) -> Problem {
        malformed([FieldError(field: field, message: message)])
    }

    /// 422 (RFC 9110 §15.5.21): the request is well-formed by the document, but a rule that spans fields or depends
    /// on what exists refuses it (a CIDR block with host bits set, an id that names nothing, a date in the past,
    /// GROUP_SPECIFIC without groups). `errors` names the fields.
    public static func invalid(_ errors: [FieldError]) -> Problem {
        let names = errors.map(\.field).joined(separator: ", ")
        return Problem(.unprocessableContent, title: "Unprocessable request", detail: "Invalid field(s): \(names)", errors: errors)
    }

    public static func invalid(field: String, _ message: String) -> Problem {
        invalid([FieldError(field: field, message: message)])
    }

    public static let unauthorized = Problem(
        .unauthorized, detail: "Missing, invalid or expired credentials.",
        headers: [.wwwAuthenticate: "Bearer"]
    )

    public static func unauthorized(_ detail: String) -> Problem {
        Problem(.unauthorized, detail: detail, headers: [.wwwAuthenticate: "Bearer"])
    }

    public static func forbidden(_ detail: String = "You are not allowed to do this.") -> Problem {
        Problem(.forbidden, detail: detail)
    }

    /// 404 that never says whether the object exists in another tenant.
    public static func notFound(_ resource: String) -> Problem {
        Problem(.notFound, detail: "\(resource) not found.")
    }

    public static func conflict(_ detail: String, field: String? = nil) -> Problem {
        Problem(.conflict, detail: detail, errors: field.map { [FieldError(field: $0, message: detail)] } ?? [])
    }

    public static func tooManyRequests(retryAfter seconds: Int) -> Problem {
        Problem(
            .tooManyRequests, detail: "Too many attempts. Retry after \(seconds) seconds.",
            headers: [.retryAfter: String(seconds)]
        )
    }
}

extension Problem {
    /// The one mapping from the domain's refusals to HTTP (RFC 9457): each kind has its status; the message
    /// is the detail; the named fields are the `errors`; a rate limit carries `Retry-After`, a 401
    /// `WWW-Authenticate: Bearer`.
    public init(_ error: DomainError) {
        let status: HTTPResponse.Status = switch error.kind {
        case .invalid: .unprocessableContent
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        }
        var headers: HTTPFields = [:]
        if error.kind == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let seconds = error.retryAfter { headers[.retryAfter] = String(seconds) }
        // Every 422 has the title `invalid(_:)` gives it, whichever refusal made it (a trial found two).
        self.init(status, title: error.title ?? (error.kind == .invalid ? "Unprocessable request" : nil), detail: error.message,
                  errors: error.errors, headers: headers)
    }
}
