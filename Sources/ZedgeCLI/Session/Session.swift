import Foundation
import ZedgeTransport

/// Which coordinator a command talks to, with which CA and which token (DESIGN §9):
///
/// - `ZEDGE_URL` overrides the context's URL; `ZEDGE_CA_HASH` pins the CA (fetched from
///   `/agent/v1/ca.pem` and checked before anything else is sent) or checks the context's stored one;
///   `ZEDGE_TOKEN` (an API key or an access token) replaces the stored credentials.
/// - Otherwise the context named by `--context`, else the current one (`zedgectl context use`).
/// - https always verifies against the pinned CA alone; `http://` only when the user wrote it.
public struct Session: Sendable {
    public let contextName: String?
    public let url: String
    public let caPEM: String?
    public let client: APIClient

    public static func resolve(contextOverride: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               store: ConfigStore) async throws -> Session {
        let config = try store.loadConfig()
        let name = contextOverride ?? config.currentContext
        if let contextOverride, config.contexts[contextOverride] == nil {
            throw CLIError.usage("no context named \"\(contextOverride)\" (see `zedgectl context list`)")
        }
        let context = name.flatMap { config.contexts[$0] }
        let envURL = environment["ZEDGE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let envToken = environment["ZEDGE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let envHash = environment["ZEDGE_CA_HASH"].flatMap { $0.isEmpty ? nil : $0 }
        guard let url = envURL ?? context?.url else {
            throw CLIError.usage("no coordinator: run `zedgectl login --url https://HOST:8443 --ca-hash sha256:HEX`, or set ZEDGE_URL (and ZEDGE_CA_HASH, ZEDGE_TOKEN)")
        }
        let sameCoordinator = context.map { envURL == nil || normalize(envURL!) == normalize($0.url) } ?? false
        let caPEM = try await pinnedCA(url: url, envHash: envHash, stored: sameCoordinator ? context?.caPEM : nil)
        let transport = Transport(baseURL: url, caPEM: caPEM)
        let mode: TokenSource.Mode
        if let envToken {
            mode = .fixed(envToken)
        } else if sameCoordinator, let name {
            mode = .stored(store: store, context: name)
        } else {
            mode = .none
        }
        return Session(contextName: sameCoordinator ? name : nil, url: url, caPEM: caPEM,
                       client: APIClient(transport: transport, tokens: try TokenSource(mode: mode, transport: transport)))
    }

    /// The CA PEM to trust for `url`: nil for http://; the stored one when it matches `envHash` (or there is no
    /// `envHash`); else the coordinator's, fetched and checked against `envHash`.
    static func pinnedCA(url: String, envHash: String?, stored: String?) async throws -> String? {
        if Transport.isPlainHTTP(url) { return nil }
        guard url.lowercased().hasPrefix("https://") else {
            throw CLIError.usage("\(url) is not an https:// (or explicit http://) URL")
        }
        if let stored {
            guard let envHash else { return stored }
            if try CAPinning.fingerprint(ofPEM: stored) == envHash.trimmingCharacters(in: .whitespaces).lowercased() { return stored }
        }
        guard let envHash else {
            throw CLIError.usage("\(url) has no pinned CA: set ZEDGE_CA_HASH=sha256:HEX (the coordinator prints it at start) or run `zedgectl login --url \(url) --ca-hash sha256:HEX`")
        }
        return try await CAPinning.fetchPinnedCA(coordinator: url, pin: envHash, userAgent: "zedgectl/\(CLIVersion.current)")
    }

    static func normalize(_ url: String) -> String {
        var text = url.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
