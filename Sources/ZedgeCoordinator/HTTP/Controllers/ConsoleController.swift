import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ZedgeCore

/// The browser side of consoles (issue #16):
///
/// - `GET /console/{token}`: a page that opens the console's WebSocket — noVNC (Debian's `novnc` package, served
///   from `novncDirectory` under `/console/novnc/`) for `vnc`, a plain terminal for `serial`. Loading the page
///   does not spend the token; the WebSocket does.
/// - `GET /console/{token}/websocket` and `GET /agent/v1/console-sessions/{id}/websocket` without a WebSocket
///   upgrade (or with one that `ConsoleWebSockets` refused): the problem, as JSON.
public struct ConsoleController: Sendable {
    let consoles: ConsoleService
    let novncDirectory: String
    let tlsEnabled: Bool

    public func register(consoles routes: RouteRegistrar, agent: RouteRegistrar, router: Router<ZedgeRequestContext>) {
        routes.on(.get, ":token", summary: "The browser console page for a console token (noVNC for vnc, a terminal for serial); loading it does not spend the token",
                  action: "console.page", output: EmptyBody.self, authenticated: false, use: page)
        routes.on(.get, ":token/websocket", summary: "The console's WebSocket (binary messages: RFB for vnc, the serial port's bytes for serial); the first upgrade before the token expires spends it. Without an upgrade: why it cannot be opened",
                  action: "console.websocket", output: EmptyBody.self, authenticated: false, use: websocket)
        agent.on(.get, "console-sessions/:id/websocket", summary: "The agent's side of a console tunnel (a WebSocket upgrade); without one, or for a session nobody waits for, a problem",
                 action: "agent.console", output: EmptyBody.self, use: agentWebSocket)
        // noVNC's ES modules import one another by relative path: the directory is served as it is installed, by
        // Hummingbird's FileMiddleware (reads on NIO's thread pool; ETag, Range, HEAD). It answers for files that
        // exist; the catch-all route's 404 is the answer for the rest, and a path with ".." is a 400.
        router.group("console/novnc")
            .add(middleware: FileMiddleware<ZedgeRequestContext, LocalFileSystem>(
                novncDirectory, urlBasePath: "/console/novnc",
                cacheControl: CacheControl([(MediaType(type: .any), [.public, .maxAge(3600)])]), logger: Self.fileLogger))
            .get("**", use: novncMissing)
    }

    /// FileMiddleware's logger, from notice up: its one info message ("Serving files from …", at every start) is left out.
    static var fileLogger: Logger {
        var logger = Logger(label: "zedge.console.novnc")
        logger.logLevel = .notice
        return logger
    }

    /// `https://host:port` and `wss://host:port` as the client reached this replica (its Host header).
    static func baseURL(of request: Request, tls: Bool) -> (http: String, ws: String) {
        let host = request.head.authority ?? "localhost"
        return tls ? ("https://\(host)", "wss://\(host)") : ("http://\(host)", "ws://\(host)")
    }

    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
        // The URL holds the token: never sent on as a referrer.
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
    ]

    // MARK: - Route handlers

    /// The console page (`console.page`): 404 for a token no session has, 403 for a used or expired one.
    func page(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let token = try Self.token(context)
        let session = try await consoles.check(token: token)
        let html: String
        switch session.type {
        case .vnc:
            html = FileManager.default.fileExists(atPath: novncDirectory + "/core/rfb.js")
                ? ConsolePage.vnc(title: session.vmName) : ConsolePage.novncMissing(directory: novncDirectory)
        case .serial:
            html = ConsolePage.serial(title: session.vmName)
        }
        return Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The console WebSocket's URL without an upgrade (`console.websocket`): why it cannot be opened.
    func websocket(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try await consoles.check(token: try Self.token(context))
        throw Problem.badRequest("Open this URL as a WebSocket (Upgrade: websocket); it was not spent.")
    }

    /// The agent's console WebSocket without an upgrade, or one nobody waits for (`agent.console`).
    func agentWebSocket(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        _ = try context.requireAgent()
        throw Problem.notFound("Console session")
    }

    /// A path under `/console/novnc/` that names no file of noVNC's (or noVNC is not installed).
    func novncMissing(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        throw Problem.notFound("File")
    }

    static func token(_ context: ZedgeRequestContext) throws -> String {
        guard let token = context.parameters.get("token"), !token.isEmpty, token.count < 256 else { throw Problem.notFound("Console session") }
        return token
    }
}
