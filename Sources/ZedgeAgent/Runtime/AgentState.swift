#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// What a registered agent keeps in its state dir: who it is, where its coordinator is, the pinned CA
/// (`ca.pem`) and its credential (`credential`, mode 0600, never logged).
public struct AgentState: Codable, Sendable, Hashable {
    public var coordinator: String
    public var kind: EnrollmentKind
    public var agentId: UUID
    public var machineId: UUID?
    public var cloudBoxId: UUID?
    public var heartbeatIntervalS: Int

    static let fileName = "agent.json"
    static let credentialFile = "credential"
    static let caFile = "ca.pem"

    /// Writes the state, the CA and the credential, each replaced atomically; folders 0700, secret 0600.
    public func save(in directory: String, credential: String, caPEM: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try DurableFiles.writeAtomically(Data(credential.utf8), to: "\(directory)/\(Self.credentialFile)", mode: 0o600)
        try DurableFiles.writeAtomically(Data(caPEM.utf8), to: "\(directory)/\(Self.caFile)", mode: 0o644)
        try DurableFiles.writeAtomically(try ZedgeJSON.encoder(pretty: true).encode(self), to: "\(directory)/\(Self.fileName)", mode: 0o644)
    }

    /// The saved state, credential and CA; a clear error when the agent has not registered.
    public static func load(from directory: String) throws -> (state: AgentState, credential: String, caPEM: String) {
        let path = "\(directory)/\(fileName)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentError("not registered: \(path) is missing (run `zedge-agent register` first)")
        }
        let state = try ZedgeJSON.decoder().decode(AgentState.self, from: data)
        guard let credential = FileManager.default.contents(atPath: "\(directory)/\(credentialFile)").map({ String(decoding: $0, as: UTF8.self) }),
              let ca = FileManager.default.contents(atPath: "\(directory)/\(caFile)").map({ String(decoding: $0, as: UTF8.self) }) else {
            throw AgentError("the state dir \(directory) lacks its credential or CA; register again")
        }
        return (state, credential.trimmed(), ca)
    }
}

/// An agent failure with one clear line for the operator.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
