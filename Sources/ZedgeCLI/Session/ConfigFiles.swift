import Foundation

/// `~/.config/zedge/config.json`: the named contexts (coordinators) and which one is current. Holds no secret.
///
///     {"currentContext": "prod", "contexts": {"prod": {"url": "https://…:8443", "caHash": "sha256:…", "caPEM": "-----BEGIN…", "username": "admin"}}}
public struct ConfigFile: Codable, Sendable, Equatable {
    /// One coordinator: where it is and the CA pinned at login (nil for an explicit http:// URL).
    public struct Context: Codable, Sendable, Equatable {
        public var url: String
        public var caHash: String?
        public var caPEM: String?
        public var username: String?

        public init(url: String, caHash: String? = nil, caPEM: String? = nil, username: String? = nil) {
            self.url = url
            self.caHash = caHash
            self.caPEM = caPEM
            self.username = username
        }
    }

    public var currentContext: String?
    public var contexts: [String: Context]

    public init(currentContext: String? = nil, contexts: [String: Context] = [:]) {
        self.currentContext = currentContext
        self.contexts = contexts
    }
}

/// `~/.config/zedge/credentials.json` (mode 0600): per context, the refresh token and the latest access token.
public struct CredentialsFile: Codable, Sendable, Equatable {
    public struct Credentials: Codable, Sendable, Equatable {
        public var refreshToken: String
        public var accessToken: String?
        /// When `accessToken` expires (from the login or refresh answer's `expiresIn`).
        public var accessTokenExpiresAt: Date?

        public init(refreshToken: String, accessToken: String? = nil, accessTokenExpiresAt: Date? = nil) {
            self.refreshToken = refreshToken
            self.accessToken = accessToken
            self.accessTokenExpiresAt = accessTokenExpiresAt
        }
    }

    public var contexts: [String: Credentials]

    public init(contexts: [String: Credentials] = [:]) { self.contexts = contexts }
}
