import Foundation
import Hummingbird
import ZedgeCore

/// Authenticates `Authorization: Bearer …` when present (a bad one is a 401 at once): under `/agent` as an
/// agent, elsewhere as a user. Routes that need a caller ask `context.requirePrincipal()` or
/// `context.requireAgent()`.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = ZedgeRequestContext
    let authenticator: Authenticator

    public init(authenticator: Authenticator) {
        self.authenticator = authenticator
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
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
