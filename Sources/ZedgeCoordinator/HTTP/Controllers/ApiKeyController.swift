import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/api-keys`: every user makes keys for itself; the key is shown once, at creation. ADMIN may list
/// and revoke anyone's.
public struct ApiKeyController: Sendable {
    let apiKeys: any ApiKeyRepository
    let authorizer: Authorizer

    static let list = ListSpec(filters: ["userId": .uuid])

    struct CreateBody: RequestBody {
        var name: String
        var expiresAt: Date?
        static var immutableFields: Set<String> { ["userId", "prefix", "lastUsedAt", "revokedAt", "key", "keyHash"] }
        static var fieldRules: [String: FieldRule] { ["name": .displayText(maxLength: 128, minLength: 1)] }
        func validate() -> [FieldError] {
            Validate.collect(
                expiresAt.flatMap { $0 <= Date() ? FieldError(field: "expiresAt", message: "must be in the future") : nil })
        }
    }

    /// The one response that carries the key itself.
    struct CreatedKey: Codable, Sendable {
        var id: UUID
        var userId: UUID
        var name: String
        var prefix: String
        var key: String
        var expiresAt: Date?
        var createdAt: Date
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create an API key for yourself (the key is shown only in this response)",
                  action: "api-key.create", input: CreateBody.self, output: CreatedKey.self, status: 201, use: create)
        routes.on(.get, "", summary: "List your API keys (ADMIN: anyone's)", action: "api-key.list",
                  output: Page<ApiKey>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get an API key (never the key itself)", action: "api-key.read",
                  output: ApiKey.self, use: read)
        routes.on(.delete, ":id", summary: "Revoke an API key", action: "api-key.revoke",
                  output: EmptyBody.self, status: 204, use: revoke)
    }

    // MARK: - Route handlers

    /// Create an API key for yourself (the key is shown only in this response) (`api-key.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .user, .update)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let secret = SecretToken.generate(.apiKey)
        let key = ApiKey(userId: principal.userId, name: body.name, prefix: secret.prefix, expiresAt: body.expiresAt)
        try await apiKeys.insert(key, keyHash: secret.hash)
        context.audit.resource(key.id)
        context.audit.detail("prefix", .string(key.prefix))
        return try JSONResponse.created(
            CreatedKey(id: key.id, userId: key.userId, name: key.name, prefix: key.prefix, key: secret.value,
                       expiresAt: key.expiresAt, createdAt: key.createdAt),
            at: "/api/v1/api-keys/\(key.id.uuidString)")
    }

    /// List your API keys (ADMIN: anyone's) (`api-key.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        var parameters = try ListParameters.parse(request, Self.list)
        if principal.role != .admin { parameters.force("userId", .uuid(principal.userId)) }
        return try JSONResponse.make(try await apiKeys.list(parameters.query))
    }

    /// Get an API key (never the key itself) (`api-key.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context))
    }

    /// Revoke an API key (`api-key.revoke`).
    func revoke(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var key = try await reachable(context)
        if key.revokedAt == nil {
            key.revokedAt = Date()
            _ = try await apiKeys.update(key)
        }
        return JSONResponse.noContent()
    }

    func reachable(_ context: ZedgeRequestContext) async throws -> ApiKey {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "API key")
        context.audit.resource(id)
        guard let key = try await apiKeys.find(id), principal.role == .admin || key.userId == principal.userId else {
            throw Problem.notFound("API key")
        }
        return key
    }
}
