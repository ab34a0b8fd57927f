#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `vm.console-open`: connect the VM's console to a WebSocket that the agent opens to the coordinator.
///
/// The agent dials `dialURL` (`wss://…/agent/v1/console-sessions/{sessionId}/websocket`) with its own
/// credential and the pinned CA, then relays bytes between that WebSocket's binary messages and the VM's
/// serial console (libvirt's `virDomainOpenConsole`) or graphics (`virDomainOpenGraphicsFD`). With several
/// replicas, `dialURL` names the replica that holds the user's side of the session; nil means the agent's own
/// coordinator URL.
public struct ConsoleOpenCall: Codable, Sendable, Hashable {
    public var sessionId: UUID
    public var vmUuid: UUID
    public var vmName: String
    public var type: ConsoleType
    /// The replica's base URL (`https://host:port`), when it is not the agent's configured coordinator URL.
    public var dialURL: String?
    /// A CloudBox's session: the client authenticates to the VNC server with the binding's ticket (the graphics
    /// password), which the agent rotates once it has been used. Otherwise the coordinator has authenticated the
    /// user, and the agent's end is let in without a password.
    public var ticketed: Bool

    public init(sessionId: UUID, vmUuid: UUID, vmName: String, type: ConsoleType, dialURL: String? = nil, ticketed: Bool = false) {
        self.sessionId = sessionId
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.type = type
        self.dialURL = dialURL
        self.ticketed = ticketed
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sessionId = try c.decode(UUID.self, forKey: .sessionId)
        vmUuid = try c.decode(UUID.self, forKey: .vmUuid)
        vmName = try c.decode(String.self, forKey: .vmName)
        type = try c.decode(ConsoleType.self, forKey: .type)
        dialURL = try c.decodeIfPresent(String.self, forKey: .dialURL)
        ticketed = try c.decodeIfPresent(Bool.self, forKey: .ticketed) ?? false
    }

    /// The agent's side of a session: `/agent/v1/console-sessions/{id}/websocket`.
    public static func agentPath(session: UUID) -> String {
        "/agent/v1/console-sessions/\(session.uuidString.lowercased())/websocket"
    }
}
