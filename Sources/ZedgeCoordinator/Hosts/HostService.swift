import Foundation
import ZedgeCore

/// An operator's changes to hosts: a machine's status (MAINTENANCE, DECOMMISSIONING), rental mode, name,
/// business IP and tags, its removal once decommissioned and empty; a CloudBox's operator fields.
public struct HostService: Sendable {
    let hosts: any HostRepository
    let computeMachines: any ModelRepository<ComputeMachine>
    let cloudBoxes: any ModelRepository<CloudBox>
    let instances: any InstanceRepository
    let agentCredentials: any AgentCredentialRepository

    public init(hosts: any HostRepository, computeMachines: any ModelRepository<ComputeMachine>,
                cloudBoxes: any ModelRepository<CloudBox>, instances: any InstanceRepository,
                agentCredentials: any AgentCredentialRepository) {
        self.hosts = hosts
        self.computeMachines = computeMachines
        self.cloudBoxes = cloudBoxes
        self.instances = instances
        self.agentCredentials = agentCredentials
    }

    /// What a PATCH of a machine carries; nil leaves a field as it is (`.some(nil)` clears an optional one).
    public struct MachineChanges: Sendable {
        public var name: String?
        public var status: ComputeMachineStatus?
        public var rentalMode: RentalMode?
        public var businessIp: String??
        public var tags: JSONValue??

        public init(name: String? = nil, status: ComputeMachineStatus? = nil, rentalMode: RentalMode? = nil,
                    businessIp: String?? = nil, tags: JSONValue?? = nil) {
            self.name = name
            self.status = status
            self.rentalMode = rentalMode
            self.businessIp = businessIp
            self.tags = tags
        }
    }

    /// Applies the changes: DECOMMISSIONING and a new rental mode are refused (409) while instances remain.
    /// Only these columns are written; the allocated counters move with claims, concurrently.
    public func update(_ machine: ComputeMachine, _ changes: MachineChanges, now: Date = Date()) async throws -> ComputeMachine {
        var machine = machine
        let live = try await instances.liveCount(on: machine.id)
        if let status = changes.status {
            if status == .decommissioning, live > 0 {
                throw DomainError.conflict("\(live) instance(s) remain on this machine; delete or evacuate them before decommissioning it.", field: "status")
            }
            machine.status = status
        }
        if let mode = changes.rentalMode {
            if mode != machine.rentalMode, live > 0 {
                throw DomainError.conflict("\(live) instance(s) run on this machine; its rental mode changes only when it is empty.", field: "rentalMode")
            }
            machine.rentalMode = mode
        }
        if let name = changes.name { machine.name = name }
        if let businessIp = changes.businessIp { machine.businessIp = businessIp }
        if let tags = changes.tags { machine.tags = tags }
        machine.updatedAt = now
        try await hosts.updateOperatorFields(machine)
        return try await computeMachines.find(machine.id) ?? machine
    }

    /// Removes a DECOMMISSIONING machine that holds no instances (pool and data center totals follow). Its
    /// agent's credential goes with it: the row by cascade, and (revoked explicitly) any copy cached in memory,
    /// so the agent's next call is a 401.
    public func remove(_ machine: ComputeMachine, now: Date = Date()) async throws {
        guard machine.status == .decommissioning else {
            throw DomainError.conflict("Only a DECOMMISSIONING machine can be removed; this one is \(machine.status.rawValue).", field: "status")
        }
        try await hosts.remove(machine)
        try await agentCredentials.revokeAll(computeMachineId: machine.id, cloudBoxId: nil, at: now)
    }

    /// Writes a CloudBox's operator fields (name, location, disabled, assigned user, tags) as `box` has them.
    public func update(_ box: CloudBox, now: Date = Date()) async throws -> CloudBox {
        var box = box
        box.updatedAt = now
        try await hosts.updateOperatorFields(box)
        return try await cloudBoxes.find(box.id) ?? box
    }
}
