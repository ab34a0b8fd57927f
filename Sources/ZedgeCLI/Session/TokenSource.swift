import Foundation
import ZedgeCore

/// Where the bearer token of each request comes from.
///
/// - `fixed`: `ZEDGE_TOKEN` (an API key or an access token), used as it is, never refreshed.
/// - `stored`: the context's credentials from `credentials.json`. The access token is used until 2 s before
///   it expires; then, or after a 401, `POST /api/v1/auth/refresh` exchanges the refresh token (rotation: the
///   answer's new refresh token replaces the old one in the file at once, since reusing a rotated token revokes
///   the whole family).
/// - `none`: no credentials (login, the unauthenticated routes).
public actor TokenSource {
    public enum Mode: Sendable {
        case none
        case fixed(String)
        case stored(store: ConfigStore, context: String)
    }

    /// The login and refresh answer (`TokenPair`).
    struct TokenPair: Decodable {
        var accessToken: String
        var refreshToken: String
        /// Seconds.
        var expiresIn: Int?
    }

    private let mode: Mode
    private let transport: Transport
    private var credentials: CredentialsFile.Credentials?
    private let clock: @Sendable () -> Date

    public init(mode: Mode, transport: Transport, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.mode = mode
        self.transport = transport
        self.clock = clock
        if case .stored(let store, let context) = mode {
            credentials = try store.loadCredentials().contexts[context]
        }
    }

    /// The token for the next request; nil when there is none.
    /// - Throws: `CLIError.api` when a due refresh is refused (then the user must log in again).
    public func bearer() async throws -> String? {
        switch mode {
        case .none: return nil
        case .fixed(let token): return token
        case .stored(_, let context):
            guard let credentials else { throw CLIError.usage("not logged in to \(context): run `zedgectl login`") }
            if let access = credentials.accessToken, let expires = credentials.accessTokenExpiresAt,
               expires.timeIntervalSince(clock()) > Self.expiryMargin {
                return access
            }
            return try await refresh(replacing: credentials.accessToken)
        }
    }

    /// After a 401 answered to `token`: a fresh access token if one can be had (once per stale token), else nil.
    public func refreshed(after token: String?) async throws -> String? {
        guard case .stored = mode, let credentials else { return nil }
        if let access = credentials.accessToken, access != token { return access }  // Someone refreshed already.
        return try await refresh(replacing: token)
    }

    /// Seconds before its expiry at which an access token is refreshed rather than sent.
    static let expiryMargin: TimeInterval = 2

    /// Exchanges the refresh token and stores the new pair. Holds an exclusive lock on the credentials file
    /// meanwhile, so that concurrent zedgectl processes do not present one refresh token twice (a reuse revokes
    /// the whole family): a process that waited for the lock takes the pair the other one stored.
    private func refresh(replacing stale: String?) async throws -> String? {
        guard case .stored(let store, let context) = mode else { return nil }
        let lock = try store.lockCredentials()
        defer { lock.unlock() }
        guard let current = try store.loadCredentials().contexts[context] else {
            credentials = nil
            throw CLIError.usage("not logged in: run `zedgectl login`")
        }
        if let access = current.accessToken, access != stale, let expires = current.accessTokenExpiresAt,
           expires.timeIntervalSince(clock()) > Self.expiryMargin {
            credentials = current
            return access
        }
        let body = try JSONEncoder().encode(["refreshToken": current.refreshToken])
        let response = try await transport.perform("POST", "/api/v1/auth/refresh",
                                                   headers: ["content-type": "application/json", "accept": "application/json"], body: body)
        guard response.status == 200 else {
            var problem = Problem.parse(status: response.status, body: response.body)
            if response.status == 401 {
                problem.detail = (problem.detail ?? "unauthorized") + " — the session has ended: run `zedgectl login`"
            }
            throw CLIError.api(problem)
        }
        let pair = try JSONDecoder().decode(TokenPair.self, from: response.body)
        let updated = CredentialsFile.Credentials(
            refreshToken: pair.refreshToken, accessToken: pair.accessToken,
            accessTokenExpiresAt: clock().addingTimeInterval(TimeInterval(pair.expiresIn ?? 900)))
        credentials = updated
        var file = try store.loadCredentials()
        file.contexts[context] = updated
        try store.save(file)
        return pair.accessToken
    }
}
