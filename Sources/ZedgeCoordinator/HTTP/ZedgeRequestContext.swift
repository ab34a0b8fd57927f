import Foundation
import Hummingbird
import NIOCore
import ZedgeCore

/// The per-request context of the coordinator: who is calling (once authenticated) and from where.
public struct ZedgeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller, set by `AuthenticationMiddleware`.
    public var principal: Principal?
    /// The authenticated agent on `/agent` routes.
    public var agent: AgentPrincipal?
    /// The client's socket address.
    let remoteAddress: SocketAddress?
    /// The connection the request came on (`ClientConnections.watch`).
    let connection: ObjectIdentifier
    /// The client's address, for audit rows and per-address login limits. Formatted when asked: most requests (an
    /// agent's heartbeats and polls) never ask (issue #14).
    public var clientAddress: String? { remoteAddress?.ipAddress }
    /// What this request's audit row will say (filled in by authentication and handlers).
    public let audit = RequestAudit()
    /// Where a long-poll hands its wait, when `LongPollParkingResponder` answers it; nil otherwise (it waits inline).
    public internal(set) var park: LongPollPark?
    /// Request bodies above this size are refused with 413.
    public var maxUploadSize: Int { 1 << 20 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.connection = ObjectIdentifier(source.channel)
    }

    public var requestDecoder: JSONDecoder { ZedgeJSON.decoder() }
    public var responseEncoder: JSONEncoder { ZedgeJSON.encoder() }

    /// The calling agent, or 401.
    public func requireAgent() throws -> AgentPrincipal {
        guard let agent else { throw Problem.unauthorized("An agent credential is required.") }
        return agent
    }

    /// The caller, or 401 when the route needs one and none was authenticated.
    public func requirePrincipal() throws -> Principal {
        guard let principal else { throw Problem.unauthorized }
        return principal
    }
}
