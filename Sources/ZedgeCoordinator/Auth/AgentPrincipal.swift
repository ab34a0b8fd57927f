import Foundation

/// An authenticated agent: its credential names exactly one ComputeMachine or CloudBox.
public struct AgentPrincipal: Sendable, Hashable {
    public var credentialId: UUID
    public var computeMachineId: UUID?
    public var cloudBoxId: UUID?

    /// The machine or CloudBox this agent speaks for.
    public var hostId: UUID { computeMachineId ?? cloudBoxId! }
}
