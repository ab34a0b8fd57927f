import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/enrollment-tokens` (OPERATOR and ADMIN): a token lets agents register into one edge data
/// center (and for machines one pool), a counted number of times, until it expires. Shown once.
public struct EnrollmentTokenController: Sendable {
    let edgeDataCenters: any ModelRepository<EdgeDataCenter>
    let resourcePools: any ModelRepository<ResourcePool>
    let enrollmentTokens: any EnrollmentTokenRepository
    let authorizer: Authorizer

    static let list = ListSpec(filters: ["edgeDataCenterId": .uuid, "kind": .of(EnrollmentKind.self)])
    static let maximumLifetime: TimeInterval = 30 * 86400

    struct CreateBody: RequestBody {
        var edgeDataCenterId: UUID
        var resourcePoolId: UUID?
        var kind: EnrollmentKind
        var uses: Int?
        var expiresAt: Date?
        static var immutableFields: Set<String> { ["prefix", "usesLeft", "usesTotal", "revokedAt", "createdBy", "token"] }
        static var fieldRules: [String: FieldRule] { ["uses": .integer(1...10_000)] }
        func validate() -> [FieldError] {
            Validate.collect(
                expiresAt.flatMap { date in
                    if date <= Date() { return FieldError(field: "expiresAt", message: "must be in the future") }
                    if date > Date().addingTimeInterval(EnrollmentTokenController.maximumLifetime) {
                        return FieldError(field: "expiresAt", message: "must be within 30 days")
                    }
                    return nil
                })
        }
    }

    /// The one response that carries the token itself.
    struct CreatedToken: Codable, Sendable {
        var id: UUID
        var token: String
        var prefix: String
        var kind: EnrollmentKind
        var edgeDataCenterId: UUID
        var resourcePoolId: UUID?
        var usesLeft: Int
        var expiresAt: Date
        var createdAt: Date
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create an enrollment token (the token is shown only in this response)",
                  action: "enrollment-token.create", input: CreateBody.self, output: CreatedToken.self, status: 201, use: create)
        routes.on(.get, "", summary: "List enrollment tokens (never the tokens themselves)", action: "enrollment-token.list",
                  output: Page<EnrollmentToken>.self, list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get an enrollment token", action: "enrollment-token.read",
                  output: EnrollmentToken.self, use: read)
        routes.on(.delete, ":id", summary: "Revoke an enrollment token", action: "enrollment-token.revoke",
                  output: EmptyBody.self, status: 204, use: revoke)
    }

    // MARK: - Route handlers

    /// Create an enrollment token (the token is shown only in this response) (`enrollment-token.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .server, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        guard try await edgeDataCenters.find(body.edgeDataCenterId) != nil else {
            throw Problem.invalid(field: "edgeDataCenterId", "no such edge data center")
        }
        if let poolId = body.resourcePoolId {
            guard let pool = try await resourcePools.find(poolId), pool.edgeDataCenterId == body.edgeDataCenterId else {
                throw Problem.invalid(field: "resourcePoolId", "no such resource pool in this edge data center")
            }
        } else if body.kind == .computeMachine {
            throw Problem.invalid(field: "resourcePoolId", "is required for COMPUTE_MACHINE tokens")
        }
        let secret = SecretToken.generate(.enrollmentToken)
        let uses = body.uses ?? 1
        let token = EnrollmentToken(
            edgeDataCenterId: body.edgeDataCenterId, resourcePoolId: body.resourcePoolId, kind: body.kind,
            prefix: secret.prefix, usesLeft: uses, usesTotal: uses,
            expiresAt: body.expiresAt ?? Date().addingTimeInterval(86400), createdBy: principal.userId)
        try await enrollmentTokens.insert(token, tokenHash: secret.hash)
        context.audit.resource(token.id)
        context.audit.detail("prefix", .string(token.prefix))
        return try JSONResponse.created(
            CreatedToken(id: token.id, token: secret.value, prefix: token.prefix, kind: token.kind,
                         edgeDataCenterId: token.edgeDataCenterId, resourcePoolId: token.resourcePoolId,
                         usesLeft: token.usesLeft, expiresAt: token.expiresAt, createdAt: token.createdAt),
            at: "/api/v1/enrollment-tokens/\(token.id)")
    }

    /// List enrollment tokens (never the tokens themselves) (`enrollment-token.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try authorizer.require(try context.requirePrincipal(), .server, .read)
        return try JSONResponse.make(try await enrollmentTokens.list(try ListParameters.parse(request, Self.list).query))
    }

    /// Get an enrollment token (`enrollment-token.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await token(context, .read))
    }

    /// Revoke an enrollment token (`enrollment-token.revoke`).
    func revoke(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        var token = try await token(context, .delete)
        if token.revokedAt == nil {
            token.revokedAt = Date()
            _ = try await enrollmentTokens.update(token)
        }
        return JSONResponse.noContent()
    }

    func token(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> EnrollmentToken {
        try await authorizer.reachInfrastructure(context, .server, action, name: "Enrollment token") {
            try await enrollmentTokens.find($0)
        }
    }
}
