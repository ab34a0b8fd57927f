import Foundation
import Hummingbird
import ZedgeCore

/// Authenticates `Authorization: Bearer …` when present (a bad one is a 401 at once): under `/agent` as an
/// agent, elsewhere as a user. Routes that need a caller ask `context.requirePrincipal()` or
/// `context.requireAgent()`.
///
/// A route that takes no credentials (`/agent/v1/register`, `/agent/v1/ca.pem`, login) ignores the header, and a
/// method the path does not have is left to the router (405), so neither answers 401 to a header it never reads.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = ZedgeRequestContext
    let authenticator: Authenticator
    let catalog: RouteCatalog?

    public init(authenticator: Authenticator, catalog: RouteCatalog? = nil) {
        self.authenticator = authenticator
        self.catalog = catalog
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        if let catalog {
            let method = request.method == .head ? HTTPRequest.Method.get : request.method
            guard let route = catalog.route(method: method, endpointPath: context.endpointPath), route.authenticated else {
                return try await next(request, context)
            }
        }
        guard let token = Self.bearerToken(header) else {
            try Self.refuseRepeated(request)
            throw DomainError.unauthorized("Authorization must be 'Bearer <token>'.")
        }
        var context = context
        do {
            if RoutedPath.of(request, context).hasPrefix("/agent/") {
                context.agent = try await authenticator.agent(for: token)
            } else {
                let principal = try await authenticator.principal(for: token)
                context.principal = principal
                context.audit.actor(principal.userId, tenantId: principal.tenantId)
            }
        } catch let error as DomainError where error.kind == .unauthorized {
            try Self.refuseRepeated(request)
            throw error
        }
        return try await next(request, context)
    }

    /// 400 naming `Authorization` when the request has several Authorization fields: it is a singleton (RFC 9110
    /// §11.6.2), and their values read as one list would be refused as an unknown credential, which misleads. Asked
    /// only once a credential was refused, so that the accepted path costs nothing.
    static func refuseRepeated(_ request: Request) throws {
        if request.headers[values: .authorization].count > 1 {
            throw Problem.malformed(field: "Authorization", "must be given once (the request has several Authorization fields)")
        }
    }

    /// The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1; the scheme in any case, RFC 9110 §11.1),
    /// or nil when the value is not one: another scheme, no token, or a token of 4,096 bytes or more.
    ///
    /// Read byte by byte: every agent request passes here (issue #14).
    static func bearerToken(_ header: String) -> String? {
        let utf8 = header.utf8
        guard let space = utf8.firstIndex(of: UInt8(ascii: " ")),
              utf8[..<space].elementsEqual("bearer".utf8, by: { ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }) else { return nil }
        guard let start = utf8[space...].firstIndex(where: { $0 != UInt8(ascii: " ") }), utf8.distance(from: start, to: utf8.endIndex) < 4096 else {
            return nil
        }
        return String(header[start...])
    }
}
