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
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].count < 4096 else {
            throw DomainError.unauthorized("Authorization must be 'Bearer <token>'.")
        }
        var context = context
        if request.uri.path.hasPrefix("/agent/") {
            context.agent = try await authenticator.agent(for: String(parts[1]))
        } else {
            let principal = try await authenticator.principal(for: String(parts[1]))
            context.principal = principal
            context.audit.actor(principal.userId, tenantId: principal.tenantId)
        }
        return try await next(request, context)
    }
}
