import Foundation
import Hummingbird
import ZedgeCore

/// `POST /api/v1/auth/login`, `/refresh`, `/logout` and `GET /api/v1/auth/me`.
public struct AuthController: Sendable {
    let auth: AuthService
    let users: any UserRepository

    struct LoginBody: RequestBody {
        var username: String
        var password: String
        /// Any text of the right length: a login never says which rule a wrong username or password breaks.
        static var fieldRules: [String: FieldRule] {
            ["username": .displayText(maxLength: 64, minLength: 1), "password": .length(1...Validate.passwordMaxLength)]
        }
    }

    struct RefreshBody: RequestBody {
        var refreshToken: String
        static var fieldRules: [String: FieldRule] { ["refreshToken": .length(1...512)] }
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.post, "login", summary: "Sign in with username and password", action: "auth.login",
                  input: LoginBody.self, output: TokenPair.self, authenticated: false,
                  otherStatuses: [401: "Wrong username or password, or the account is locked."], use: login)
        routes.on(.post, "refresh", summary: "Exchange a refresh token for new tokens (rotation)", action: "auth.refresh",
                  input: RefreshBody.self, output: TokenPair.self, authenticated: false,
                  otherStatuses: [401: "Invalid, expired or revoked refresh token."], use: refresh)
        routes.on(.post, "logout", summary: "Revoke a refresh token and its family", action: "auth.logout",
                  input: RefreshBody.self, output: EmptyBody.self, status: 204, authenticated: false, use: logout)
        routes.on(.get, "me", summary: "The signed-in user", action: "auth.me", output: User.self, use: me)
    }

    // MARK: - Route handlers

    /// Sign in with username and password (`auth.login`).
    func login(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let body = try await request.decodeBody(LoginBody.self, context: context).value
        let tokens = try await auth.login(
            username: body.username, password: body.password, address: context.clientAddress, audit: context.audit)
        return try JSONResponse.make(tokens)
    }

    /// Exchange a refresh token for new tokens (rotation) (`auth.refresh`).
    func refresh(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let body = try await request.decodeBody(RefreshBody.self, context: context).value
        return try JSONResponse.make(try await auth.refresh(body.refreshToken, audit: context.audit))
    }

    /// Revoke a refresh token and its family (`auth.logout`).
    func logout(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let body = try await request.decodeBody(RefreshBody.self, context: context).value
        try await auth.logout(body.refreshToken, audit: context.audit)
        return JSONResponse.noContent()
    }

    /// The signed-in user (`auth.me`).
    func me(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        guard let user = try await users.find(principal.userId) else { throw Problem.unauthorized }
        return try JSONResponse.make(user)
    }
}
