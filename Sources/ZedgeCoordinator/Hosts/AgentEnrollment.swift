import Foundation
import ZedgeCore

/// Registers agents with enrollment tokens: checks the token and the host's facts, creates or updates the
/// ComputeMachine (or takes over the pre-registered CloudBox), and issues the agent's credential.
public struct AgentEnrollment: Sendable {
    let enrollmentTokens: any EnrollmentTokenRepository
    let agentCredentials: any AgentCredentialRepository
    let computeMachines: any ModelRepository<ComputeMachine>
    let cloudBoxes: any ModelRepository<CloudBox>
    let hosts: any HostRepository
    let heartbeatInterval: Int

    public init(
        enrollmentTokens: any EnrollmentTokenRepository, agentCredentials: any AgentCredentialRepository,
        computeMachines: any ModelRepository<ComputeMachine>, cloudBoxes: any ModelRepository<CloudBox>, hosts: any HostRepository,
        heartbeatInterval: Int
    ) {
        self.enrollmentTokens = enrollmentTokens
        self.agentCredentials = agentCredentials
        self.computeMachines = computeMachines
        self.cloudBoxes = cloudBoxes
        self.hosts = hosts
        self.heartbeatInterval = heartbeatInterval
    }

    public func register(_ request: RegisterRequest, audit: RequestAudit, now: Date = Date()) async throws -> RegisterResponse {
        audit.detail("kind", .string(request.kind.rawValue))
        audit.detail("hostname", .string(String(request.facts.hostname.prefix(253))))
        // The token: every refusal names its reason.
        guard SecretToken.kind(of: request.enrollmentToken) == .enrollmentToken,
              let token = try await enrollmentTokens.find(tokenHash: SecretToken.hash(request.enrollmentToken)) else {
            throw DomainError.unauthorized("Unknown enrollment token.")
        }
        audit.detail("enrollmentTokenPrefix", .string(token.prefix))
        if token.revokedAt != nil { throw DomainError.unauthorized("This enrollment token has been revoked.") }
        if token.expiresAt <= now { throw DomainError.unauthorized("This enrollment token has expired.") }
        if token.usesLeft <= 0 { throw DomainError.unauthorized("This enrollment token has been used up.") }
        guard token.kind == request.kind else {
            throw DomainError.forbidden("This enrollment token registers a \(token.kind.rawValue), not a \(request.kind.rawValue).")
        }
        let errors = Self.validate(request.facts)
        guard errors.isEmpty else { throw DomainError.invalid(errors) }

        switch request.kind {
        case .computeMachine:
            guard let poolId = token.resourcePoolId else {
                throw DomainError.conflict("This enrollment token names no resource pool for the machine.")
            }
            try await spend(token, now: now)
            let machine = try await upsertMachine(request.facts, dataCenter: token.edgeDataCenterId, pool: poolId, now: now)
            audit.resource(machine.id)
            return try await issueCredential(machineId: machine.id, cloudBoxId: nil, now: now)
        case .cloudBox:
            guard let serial = request.facts.serialNumber,
                  var box = try await cloudBoxes.first([.init("serialNumber", .string(serial))]),
                  box.edgeDataCenterId == nil || box.edgeDataCenterId == token.edgeDataCenterId else {
                throw DomainError.forbidden(
                    "This CloudBox's serial number has not been pre-registered in this edge data center; a technician must add it first (POST /api/v1/cloud-boxes).")
            }
            try await spend(token, now: now)
            box.edgeDataCenterId = token.edgeDataCenterId
            box.ipAddress = request.facts.managementIp
            box.macAddress = request.facts.macAddress ?? box.macAddress
            box.firmwareVersion = request.facts.firmwareVersion ?? box.firmwareVersion
            box.model = request.facts.model ?? box.model
            box.manufacturer = request.facts.manufacturer ?? box.manufacturer
            box.status = .initializing
            box.updatedAt = now
            _ = try await cloudBoxes.update(box)
            audit.resource(box.id)
            return try await issueCredential(machineId: nil, cloudBoxId: box.id, now: now)
        }
    }

    func spend(_ token: EnrollmentToken, now: Date) async throws {
        guard try await enrollmentTokens.consumeUse(token.id, now: now) else {
            throw DomainError.unauthorized("This enrollment token has been used up.")
        }
    }

    /// The same host (same management IP in the same data center) registering again is updated, never duplicated.
    func upsertMachine(_ facts: HostFacts, dataCenter: UUID, pool: UUID, now: Date) async throws -> ComputeMachine {
        let existing = try await computeMachines.first([
            .equal("edgeDataCenterId", dataCenter), .init("managementIp", .string(facts.managementIp)),
        ])
        var machine = existing ?? ComputeMachine(
            hostname: facts.hostname, name: facts.hostname, edgeDataCenterId: dataCenter, resourcePoolId: pool,
            machineType: facts.gpuCount > 0 ? .gpuServer : .cpuServer, rentalMode: .shared,
            hypervisorType: facts.hypervisorType ?? .kvm, cpuCores: facts.cpuCores, memoryGb: facts.memoryGb,
            storageGb: facts.storageGb, managementIp: facts.managementIp, status: .active, healthStatus: .healthy)
        machine.hostname = facts.hostname
        machine.resourcePoolId = pool
        machine.cpuCores = facts.cpuCores
        machine.memoryGb = facts.memoryGb
        machine.storageGb = facts.storageGb
        machine.gpuCount = facts.gpuCount
        machine.gpuModel = facts.gpuModel
        machine.hypervisorType = facts.hypervisorType ?? machine.hypervisorType
        // How the agent runs guests (libvirt's domain type: kvm, or qemu = TCG emulation), for operators to see.
        var config = machine.connectionConfig?.objectValue ?? [:]
        if let domainType = facts.domainType { config["domainType"] = .string(domainType) }
        // The Open vSwitch bridge NICs attach to, when the host has it (placement needs it for tenant networks).
        config[ComputeMachine.integrationBridgeKey] = facts.integrationBridge.map { .string($0) }
        machine.connectionConfig = config.isEmpty && machine.connectionConfig == nil ? nil : .object(config)
        machine.updatedAt = now
        if let existing, existing.resourcePoolId != pool,
           existing.allocatedCpuCores + existing.allocatedMemoryGb + existing.allocatedStorageGb + existing.allocatedGpuCount > 0 {
            throw DomainError.conflict("This machine still holds instances in its resource pool; evacuate it before enrolling it into another pool.")
        }
        try await hosts.enroll(machine, isNew: existing == nil, previousPool: existing?.resourcePoolId,
                               gpuAddresses: facts.gpuPciAddresses)
        return machine
    }

    /// A new credential replaces the machine's previous ones.
    func issueCredential(machineId: UUID?, cloudBoxId: UUID?, now: Date) async throws -> RegisterResponse {
        try await agentCredentials.revokeAll(computeMachineId: machineId, cloudBoxId: cloudBoxId, at: now)
        let secret = SecretToken.generate(.agentCredential)
        let credential = AgentCredential(computeMachineId: machineId, cloudBoxId: cloudBoxId, prefix: secret.prefix)
        try await agentCredentials.insert(credential, secretHash: secret.hash)
        return RegisterResponse(
            agentId: credential.id, machineId: machineId, cloudBoxId: cloudBoxId, credential: secret.value,
            heartbeatIntervalS: heartbeatInterval)
    }

    static func validate(_ facts: HostFacts) -> [FieldError] {
        Validate.collect(
            Validate.hostname(facts.hostname, field: "facts.hostname"),
            Validate.ipAddress(facts.managementIp, field: "facts.managementIp"),
            facts.macAddress.flatMap { Validate.macAddress($0, field: "facts.macAddress") },
            Validate.size(facts.cpuCores, field: "facts.cpuCores", in: 1...4096),
            Validate.size(facts.memoryGb, field: "facts.memoryGb", in: 0...1_048_576),
            Validate.size(facts.storageGb, field: "facts.storageGb", in: 0...10_000_000),
            Validate.size(facts.gpuCount, field: "facts.gpuCount", in: 0...64),
            facts.serialNumber.flatMap { Validate.displayText($0, field: "facts.serialNumber", maxLength: 128) },
            facts.gpuModel.flatMap { Validate.displayText($0, field: "facts.gpuModel", maxLength: 128) })
            + gpuAddressProblems(facts)
    }

    static func gpuAddressProblems(_ facts: HostFacts) -> [FieldError] {
        guard let addresses = facts.gpuPciAddresses else { return [] }
        var errors: [FieldError] = []
        if addresses.count != facts.gpuCount {
            errors.append(FieldError(field: "facts.gpuPciAddresses", message: "must list exactly gpuCount addresses"))
        }
        var seen: Set<String> = []
        for (i, address) in addresses.enumerated() {
            if PCIAddress(address) == nil {
                errors.append(FieldError(field: "facts.gpuPciAddresses[\(i)]", message: "must be a PCI address like 0000:65:00.0"))
            } else if !seen.insert(address.lowercased()).inserted {
                errors.append(FieldError(field: "facts.gpuPciAddresses[\(i)]", message: "is listed twice"))
            }
        }
        return errors
    }
}
