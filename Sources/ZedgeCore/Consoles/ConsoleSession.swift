#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A console a user asked for (issue #16): which instance's VM it shows, on which host, to whom, and its
/// token's life — issued, spent by one WebSocket before `expiresAt`, ended. The token itself is never kept.
public struct ConsoleSession: Codable, Sendable, Hashable {
    public var id: UUID
    public var instanceId: UUID
    public var computeMachineId: UUID
    public var tenantId: UUID
    /// Who asked for it (nil: the coordinator itself).
    public var userId: UUID?
    /// The CloudBox whose binding this session carries; its client authenticates with the binding's ticket.
    public var cloudBoxId: UUID?
    public var type: ConsoleType
    public var vmUuid: UUID
    public var vmName: String
    public var createdAt: Date
    public var expiresAt: Date
    /// When a WebSocket spent the token; nil while it is unspent.
    public var usedAt: Date?
    /// When the tunnel closed.
    public var endedAt: Date?

    /// How long a token may wait for its WebSocket.
    public static let tokenLifetime: TimeInterval = 60

    public init(id: UUID, instanceId: UUID, computeMachineId: UUID, tenantId: UUID, userId: UUID?, cloudBoxId: UUID? = nil,
                type: ConsoleType, vmUuid: UUID, vmName: String, createdAt: Date, expiresAt: Date, usedAt: Date? = nil,
                endedAt: Date? = nil) {
        self.cloudBoxId = cloudBoxId
        self.id = id
        self.instanceId = instanceId
        self.computeMachineId = computeMachineId
        self.tenantId = tenantId
        self.userId = userId
        self.type = type
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.endedAt = endedAt
    }
}

/// The answer to `POST /api/v1/instances/{id}/console`: where to open the console. The URLs carry the single-use
/// token, shown here once and nowhere else; the first WebSocket to `websocketUrl` before `expiresAt` spends it.
public struct ConsoleGrant: Codable, Sendable, Hashable {
    public var sessionId: UUID
    public var instanceId: UUID
    public var type: ConsoleType
    /// The browser page (`/console/{token}`): noVNC for `vnc`, a terminal for `serial`.
    public var url: String
    /// The WebSocket (`wss://…/console/{token}/websocket`) that carries the raw console bytes in binary messages:
    /// RFB (RFC 6143) for `vnc`, the serial port's bytes for `serial`.
    public var websocketUrl: String
    public var expiresAt: Date

    public init(sessionId: UUID, instanceId: UUID, type: ConsoleType, url: String, websocketUrl: String, expiresAt: Date) {
        self.sessionId = sessionId
        self.instanceId = instanceId
        self.type = type
        self.url = url
        self.websocketUrl = websocketUrl
        self.expiresAt = expiresAt
    }
}
