import ArgumentParser
import Foundation
import ZedgeCore
import ZedgeTransport

/// `zedgectl login [--url URL --ca-hash sha256:HEX] [--username U] [--password-stdin] [--context NAME]`.
///
/// Order matters: the CA is fetched and checked against `--ca-hash` before the password is read or sent, so a
/// wrong hash (or a machine in the middle) never sees it. A password goes over plain `http://` only to a
/// loopback address (a dev coordinator run with `--insecure-http`); elsewhere https is required.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Log in and keep the session in a context.",
        discussion: "Without --url, logs in again to the context's coordinator (its pinned CA).")

    @Option(help: "The coordinator, https://HOST:PORT (http:// only for a dev coordinator on this machine).") var url: String?
    @Option(help: "The coordinator CA's SHA-256, sha256:HEX, as the coordinator printed it at start.") var caHash: String?
    @Option(help: "The user name (asked for when missing).") var username: String?
    @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
    @Option(help: "The context to keep it in (default: the current one, or HOST:PORT for a new URL).") var context: String?

    func run() async throws {
        let store = ConfigStore.standard()
        var config = try store.loadConfig()
        let existingName = context ?? (url == nil ? config.currentContext : nil)
        let existing = existingName.flatMap { config.contexts[$0] }
        guard let target = url ?? existing?.url else {
            throw CLIError.usage("--url is required (no context to log in to again)")
        }
        let name = context ?? existingName ?? Self.defaultName(for: target)

        // 1. The CA, checked before anything secret is read or sent.
        var caPEM: String?
        var pin = caHash
        if Transport.isPlainHTTP(target) {
            guard Transport.isLoopback(target) else {
                throw CLIError.usage("refusing to send a password over plain http:// to \(target): use https (only loopback http:// is allowed, for dev coordinators)")
            }
        } else if let caHash {
            caPEM = try await CAPinning.fetchPinnedCA(coordinator: target, pin: caHash, userAgent: "zedgectl/\(CLIVersion.current)")
        } else if let stored = existing?.caPEM, Session.normalize(existing!.url) == Session.normalize(target) {
            caPEM = stored
            pin = existing?.caHash
        } else {
            throw CLIError.usage("--ca-hash sha256:HEX is required for \(target): the coordinator prints it at start")
        }

        // 2. Who.
        guard let user = username ?? (passwordStdin ? nil : PasswordPrompt.line(prompt: "Username: ")) ?? existing?.username,
              !user.isEmpty else {
            throw CLIError.usage("--username is required" + (passwordStdin ? " with --password-stdin" : ""))
        }
        let password = passwordStdin ? PasswordPrompt.firstLineOfStandardInput() : PasswordPrompt.password()
        guard !password.isEmpty else {
            throw CLIError.usage("empty password: type it at the prompt (a terminal is needed), or pipe it in with --password-stdin")
        }

        // 3. Log in.
        let transport = Transport(baseURL: target, caPEM: caPEM)
        let body = try JSONEncoder().encode(["username": user, "password": password])
        let response = try await transport.perform("POST", "/api/v1/auth/login",
                                                    headers: ["content-type": "application/json", "accept": "application/json"], body: body)
        guard response.status == 200 else { throw CLIError.api(Problem.parse(status: response.status, body: response.body)) }
        let pair = try JSONDecoder().decode(TokenSource.TokenPair.self, from: response.body)

        config.contexts[name] = .init(url: transport.baseURL, caHash: pin.map { $0.trimmingCharacters(in: .whitespaces).lowercased() },
                                      caPEM: caPEM, username: user)
        let previous = config.currentContext
        config.currentContext = name
        var credentials = try store.loadCredentials()
        credentials.contexts[name] = .init(refreshToken: pair.refreshToken, accessToken: pair.accessToken,
                                           accessTokenExpiresAt: Date().addingTimeInterval(TimeInterval(pair.expiresIn ?? 900)))
        try store.save(credentials)
        try store.save(config)
        // Logging in makes the context current: say so when that changed which one commands go to.
        let switched = if let previous, previous != name { "; it is now the current context (was \"\(previous)\")" } else { "" }
        FileHandle.standardError.write(Data("Logged in to \(transport.baseURL) as \(user) (context \"\(name)\"\(switched)).\n".utf8))
    }

    /// `host:port` of the URL, else the URL.
    static func defaultName(for url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host else { return url }
        return components.port.map { "\(host):\($0)" } ?? host
    }
}

/// `zedgectl logout [--context NAME]`: revokes the refresh token (and its family) and forgets the credentials.
struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Revoke the session's refresh token and forget it.")

    @Option(help: "The context (default: the current one).") var context: String?

    func run() async throws {
        let store = ConfigStore.standard()
        let config = try store.loadConfig()
        guard let name = context ?? config.currentContext, let entry = config.contexts[name] else {
            throw CLIError.usage("no context to log out of")
        }
        var credentials = try store.loadCredentials()
        guard let stored = credentials.contexts[name] else {
            FileHandle.standardError.write(Data("Not logged in (context \"\(name)\").\n".utf8))
            return
        }
        let transport = Transport(baseURL: entry.url, caPEM: entry.caPEM)
        let body = try JSONEncoder().encode(["refreshToken": stored.refreshToken])
        let response = try await transport.perform("POST", "/api/v1/auth/logout", headers: ["content-type": "application/json"], body: body)
        credentials.contexts[name] = nil
        try store.save(credentials)
        // 401: the token was revoked or expired already; either way the session is over.
        guard response.status == 204 || response.status == 200 || response.status == 401 else {
            throw CLIError.api(Problem.parse(status: response.status, body: response.body))
        }
        FileHandle.standardError.write(Data("Logged out of \(entry.url) (context \"\(name)\").\n".utf8))
    }
}

/// `zedgectl context list|use|delete`.
struct ContextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context", abstract: "Named coordinators (contexts).",
        subcommands: [List.self, Use.self, Delete.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the contexts.", aliases: ["ls"])
        @Option(name: [.customShort("o"), .customLong("output")], help: "table, wide, json or yaml.") var output: OutputFormat = .table

        func run() throws {
            let store = ConfigStore.standard()
            let config = try store.loadConfig()
            let credentials = try store.loadCredentials()
            let items: [JSONValue] = config.contexts.keys.sorted().map { name in
                let context = config.contexts[name]!
                return .object([
                    "current": .string(name == config.currentContext ? "*" : ""), "name": .string(name), "url": .string(context.url),
                    "username": context.username.map(JSONValue.string) ?? .null, "caHash": context.caHash.map(JSONValue.string) ?? .null,
                    "loggedIn": .bool(credentials.contexts[name] != nil),
                ])
            }
            try OutputPrinter(format: output).list(
                items, columns: [Column("CURRENT", "current"), Column("NAME", "name"), Column("URL", "url"), Column("USER", "username"),
                                 Column("LOGGED IN", "loggedIn")],
                wideColumns: [Column("CA HASH", "caHash")])
        }
    }

    struct Use: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "use", abstract: "Make a context the current one.")
        @Argument var name: String

        func run() throws {
            let store = ConfigStore.standard()
            var config = try store.loadConfig()
            guard config.contexts[name] != nil else { throw CLIError.usage("no context named \"\(name)\"") }
            config.currentContext = name
            try store.save(config)
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Forget a context and its credentials (without revoking: see logout).")
        @Argument var name: String

        func run() throws {
            let store = ConfigStore.standard()
            var config = try store.loadConfig()
            guard config.contexts.removeValue(forKey: name) != nil else { throw CLIError.usage("no context named \"\(name)\"") }
            if config.currentContext == name { config.currentContext = nil }
            var credentials = try store.loadCredentials()
            credentials.contexts[name] = nil
            try store.save(credentials)
            try store.save(config)
        }
    }
}

/// `zedgectl whoami`: `GET /api/v1/auth/me`.
struct WhoAmICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show the signed-in user.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let session = try await global.session()
        let response = try await session.client.send("GET", "/api/v1/auth/me")
        try global.printer.object(try response.json(), raw: response.body, columns: Resources.users.columns)
    }
}
