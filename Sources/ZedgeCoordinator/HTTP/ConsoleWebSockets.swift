import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ZedgeCore

/// One half of a console tunnel: what the other half writes its bytes to.
public struct ConsoleLeg: Sendable {
    let outbound: WebSocketOutboundWriter
}

/// The WebSocket upgrades of console tunnels (issue #16), decided before the router sees the request:
///
/// - `GET /console/{token}/websocket`, a user's (a browser's noVNC, `zedgectl`): the token is spent here, then the
///   host's agent is asked to dial in, and the two WebSockets are spliced — each binary message goes through
///   unchanged, and closing either side closes the other.
/// - `GET /agent/v1/console-sessions/{id}/websocket`, the agent's (its credential as a bearer token): it meets the
///   user's side waiting for that session and that host.
///
/// A WebSocket this refuses (a used, expired or unknown token; no such session) is closed at once with 4000 + the
/// HTTP status it would have had (4403, 4404, ...) and the reason. The same paths without an upgrade reach the
/// router, whose routes answer with the problem as JSON.
///
/// Each user's WebSocket is audited (`console.connect`, resource type `CONSOLE`, the instance as its object): who
/// was issued the session, its id and type, and the client's address; SUCCESS when the token was spent, DENIED
/// when it was refused (with `closeCode`). The `instance.console` row says who asked for it; this one, when and
/// from where it was used. A token is never in either.
public struct ConsoleWebSockets: Sendable {
    public typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    let consoles: ConsoleService
    let authenticator: Authenticator
    let rendezvous: ConsoleRendezvous<ConsoleLeg>
    let auditLogs: any TimeSeriesRepository<AuditLog>
    let logger: Logger

    public init(consoles: ConsoleService, authenticator: Authenticator, rendezvous: ConsoleRendezvous<ConsoleLeg>,
                auditLogs: any TimeSeriesRepository<AuditLog>, logger: Logger) {
        self.consoles = consoles
        self.authenticator = authenticator
        self.rendezvous = rendezvous
        self.auditLogs = auditLogs
        self.logger = logger
    }

    /// The server's WebSocket settings: frames up to 1 MiB (the agent sends up to 32 KiB at a time; a browser's
    /// noVNC less), pings every 30 s so that idle consoles survive proxies.
    public static let configuration = WebSocketServerConfiguration(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(30)))

    public func shouldUpgrade(_ request: HTTPRequest, channel: any Channel, logger: Logger) async throws -> ShouldUpgradeResult<Handler> {
        let parts = (request.path ?? "").split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/", omittingEmptySubsequences: false) } ?? []
        // ["", "console", token, "websocket"] or ["", "agent", "v1", "console-sessions", id, "websocket"]
        if parts.count == 4, parts[1] == "console", parts[3] == "websocket" {
            return await user(token: String(parts[2]), request: request, client: channel.remoteAddress?.ipAddress)
        }
        if parts.count == 6, parts[1] == "agent", parts[2] == "v1", parts[3] == "console-sessions", parts[5] == "websocket",
           let session = UUID(uuidString: String(parts[4])) {
            return await agent(session: session, request: request)
        }
        return .dontUpgrade
    }

    /// The subprotocol to answer with: `binary` when the client offers it (noVNC does), else none.
    static func protocolHeaders(_ request: HTTPRequest) -> HTTPFields {
        let offered = request.headerFields[.secWebSocketProtocol]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        return offered.contains("binary") ? [.secWebSocketProtocol: "binary"] : [:]
    }

    func user(token: String, request: HTTPRequest, client: String?) async -> ShouldUpgradeResult<Handler> {
        let session: ConsoleSession
        do {
            session = try await consoles.spend(token: token)
        } catch {
            await audit(await consoles.session(named: token), status: .denied, closeCode: Self.closeCodeNumber(for: error), request: request, client: client)
            return Self.refusal(error, request)
        }
        await audit(session, status: .success, closeCode: nil, request: request, client: client)
        let (consoles, rendezvous, logger) = (self.consoles, self.rendezvous, self.logger)
        logger.info("console session opened", metadata: ["session": "\(session.id)", "instance": "\(session.instanceId)", "type": "\(session.type.rawValue)"])
        return .upgrade(Self.protocolHeaders(request)) { inbound, outbound, _ in
            do {
                let agentLeg = try await consoles.connect(session, userLeg: ConsoleLeg(outbound: outbound), rendezvous: rendezvous)
                await Self.relay(inbound, to: agentLeg)
                logger.info("console session closed", metadata: ["session": "\(session.id)"])
            } catch {
                logger.notice("console session could not reach its host", metadata: ["session": "\(session.id)", "error": "\(error)"])
                try? await outbound.close(Self.closeCode(for: error), reason: Self.reason(error))
            }
            await consoles.ended(session)
        }
    }

    /// The `console.connect` audit row of a user's WebSocket (a failed write is logged, as `AuditMiddleware` does).
    func audit(_ session: ConsoleSession?, status: AuditStatus, closeCode: UInt16?, request: HTTPRequest, client: String?) async {
        var details: [String: JSONValue] = [:]
        if let session {
            details["consoleSessionId"] = .string(session.id.uuidString)
            details["type"] = .string(session.type.rawValue)
            if let box = session.cloudBoxId { details["cloudBoxId"] = .string(box.uuidString) }
        }
        if let closeCode { details["closeCode"] = .number(Double(closeCode)) }
        let entry = AuditLog(
            userId: session?.userId, tenantId: session?.tenantId, action: "console.connect", resourceType: "CONSOLE",
            resourceId: session?.instanceId, details: .object(details), ipAddress: client,
            userAgent: request.headerFields[.userAgent].map { String($0.prefix(512)) }, status: status)
        do {
            try await auditLogs.append(entry)
        } catch {
            logger.error("audit write failed", metadata: ["error": "\(String(reflecting: error))", "action": "console.connect"])
        }
    }

    func agent(session: UUID, request: HTTPRequest) async -> ShouldUpgradeResult<Handler> {
        guard let header = request.headerFields[.authorization], header.lowercased().hasPrefix("bearer "),
              let agent = try? await authenticator.agent(for: String(header.dropFirst("bearer ".count)))
        else { return Self.refusal(DomainError.unauthorized("An agent credential is required."), request) }
        guard let machine = agent.computeMachineId, rendezvous.isWaiting(session: session, computeMachineId: machine) else {
            return Self.refusal(DomainError.notFound("Console session"), request)
        }
        let rendezvous = self.rendezvous
        return .upgrade([:]) { inbound, outbound, _ in
            guard let userLeg = rendezvous.arrive(session: session, computeMachineId: machine, agentLeg: ConsoleLeg(outbound: outbound)) else {
                try? await outbound.close(.unknown(4404), reason: "No console session waits for this host.")
                return
            }
            await Self.relay(inbound, to: userLeg)
        }
    }

    /// A refused console WebSocket: upgraded, then closed at once with 4000 + the HTTP status and the reason. A
    /// browser's WebSocket cannot read the status of a refused upgrade, but it reads a close frame's code and reason.
    static func refusal(_ error: any Error, _ request: HTTPRequest) -> ShouldUpgradeResult<Handler> {
        .upgrade(protocolHeaders(request)) { _, outbound, _ in
            try? await outbound.close(closeCode(for: error), reason: reason(error))
        }
    }

    /// Copies every data frame of `inbound` to `leg` as a binary frame until `inbound` ends, then closes `leg`.
    static func relay(_ inbound: WebSocketInboundStream, to leg: ConsoleLeg) async {
        do {
            for try await frame in inbound {
                try await leg.outbound.write(.binary(frame.data))
            }
        } catch {}
        try? await leg.outbound.close(.normalClosure, reason: nil)
    }

    /// 4000 + the HTTP status the error would have had (a common convention for application close codes).
    static func closeCode(for error: any Error) -> WebSocketErrorCode {
        .unknown(closeCodeNumber(for: error))
    }

    static func closeCodeNumber(for error: any Error) -> UInt16 {
        UInt16(4000 + ((error as? DomainError).map { Problem($0).status.code } ?? 500))
    }

    /// A close frame's reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5). A longer message (a host's libvirt
    /// error) is cut at the last word that fits and ends with "…"; the whole text is in the coordinator's log
    /// ("console session could not reach its host").
    static func reason(_ error: any Error) -> String {
        let text = (error as? DomainError)?.message ?? "The console could not be opened."
        guard text.utf8.count > 123 else { return text }
        let ellipsis = "…"
        var cut = ""
        for character in text {
            guard cut.utf8.count + String(character).utf8.count + ellipsis.utf8.count <= 123 else { break }
            cut.append(character)
        }
        if let space = cut.lastIndex(where: \.isWhitespace), cut.distance(from: cut.startIndex, to: space) >= cut.count / 2 {
            cut = String(cut[..<space])
        }
        while let last = cut.last, last.isWhitespace || ",:;".contains(last) { cut.removeLast() }
        return cut + ellipsis
    }
}
