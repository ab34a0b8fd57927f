import Foundation
import ZedgeCore

/// Registers agents with enrollment tokens: checks the token and the host's facts, creates or updates the
/// ComputeMachine (or takes over the pre-registered CloudBox), and issues the agent's credential.
public struct AgentEnrollment: Sendable {
    let store: Store
    let heartbeatInterval: Int

    public init(store: Store, heartbeatInterval: Int) {
        self.store = store
        self.heartbeatInterval = heartbeatInterval
    }

    public func register(_ request: RegisterRequest, audit: RequestAudit, now: Date = Date()) async throws -> RegisterResponse {
        audit.detail("kind", .string(request.kind.rawValue))
        audit.detail("hostname", .string(String(request.facts.hostname.prefix(253))))
        // The token: every refusal names its reason.
        guard SecretToken.kind(of: request.enrollmentToken) == .enrollmentToken,
              let token = try await store.enrollmentTokens.find(tokenHash: SecretToken.hash(request.enrollmentToken)) else {
            throw Problem.unauthorized("Unknown enrollment token.")
        }
        audit.detail("enrollmentTokenPrefix", .string(token.prefix))
        if token.revokedAt != nil { throw Problem.unauthorized("This enrollment token has been revoked.") }
        if token.expiresAt <= now { throw Problem.unauthorized("This enrollment token has expired.") }
        if token.usesLeft <= 0 { throw Problem.unauthorized("This enrollment token has been used up.") }
        guard token.kind == request.kind else {
            throw Problem.forbidden("This enrollment token registers a \(token.kind.rawValue), not a \(request.kind.rawValue).")
        }
        let errors = Self.validate(request.facts)
        guard errors.isEmpty else { throw Problem.invalid(errors) }

        switch request.kind {
        case .computeMachine:
            guard let poolId = token.resourcePoolId else {
                throw Problem.conflict("This enrollment token names no resource pool for the machine.")
            }
            try await spend(token, now: now)
            let machine = try await upsertMachine(request.facts, dataCenter: token.edgeDataCenterId, pool: poolId, now: now)
            audit.resource(machine.id)
            return try await issueCredential(machineId: machine.id, cloudBoxId: nil, now: now)
        case .cloudBox:
            guard let serial = request.facts.serialNumber,
                  var box = try await store.cloudBoxes.first([.init("serialNumber", .string(serial))]),
                  box.edgeDataCenterId == nil || box.edgeDataCenterId == token.edgeDataCenterId else {
                throw Problem.forbidden(
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
            _ = try await store.cloudBoxes.update(box)
            audit.resource(box.id)
            return try await issueCredential(machineId: nil, cloudBoxId: box.id, now: now)
        }
    }

    func spend(_ token: EnrollmentToken, now: Date) async throws {
        guard try await store.enrollmentTokens.consumeUse(token.id, now: now) else {
            throw Problem.unauthorized("This enrollment token has been used up.")
        }
    }

    /// The same host (same management IP in the same data center) registering again is updated, never duplicated.
    func upsertMachine(_ facts: HostFacts, dataCenter: UUID, pool: UUID, now: Date) async throws -> ComputeMachine {
        let existing = try await store.computeMachines.first([
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
        machine.updatedAt = now
        if let existing, existing.resourcePoolId != pool,
           existing.allocatedCpuCores + existing.allocatedMemoryGb + existing.allocatedStorageGb + existing.allocatedGpuCount > 0 {
            throw Problem.conflict("This machine still holds instances in its resource pool; evacuate it before enrolling it into another pool.")
        }
        let ledger = CapacityLedger(engine: store.database.engine), table = Table<ComputeMachine>("compute_machines", resource: "compute machine")
        let updated = machine, isNew = existing == nil, oldPool = existing?.resourcePoolId
        try await store.database.transaction { db in
            // Rows locked first, always in the same order: inserting a machine takes a key-share lock on its
            // pool, so locking the pool only afterwards would deadlock two concurrent registrations.
            try await ledger.lockTotals(poolIds: [updated.resourcePoolId] + (oldPool.map { [$0] } ?? []),
                                        dataCenterId: updated.edgeDataCenterId, on: db)
            if isNew {
                try await table.insert(updated, on: db)
            } else {
                // Only the facts: the allocated counters belong to claims running concurrently.
                try await db.update("compute_machines")
                    .set("hostname", to: updated.hostname).set("resource_pool_id", to: updated.resourcePoolId)
                    .set("cpu_cores", to: updated.cpuCores).set("memory_gb", to: updated.memoryGb).set("storage_gb", to: updated.storageGb)
                    .set("gpu_count", to: updated.gpuCount).set("gpu_model", to: updated.gpuModel)
                    .set("hypervisor_type", to: updated.hypervisorType.rawValue).set("updated_at", to: updated.updatedAt)
                    .where("id", .equal, updated.id).run()
            }
            if let addresses = facts.gpuPciAddresses {
                try await ledger.syncGpus(machineId: updated.id, addresses: addresses, model: facts.gpuModel, on: db)
            }
            try await ledger.refreshTotals(poolId: updated.resourcePoolId, dataCenterId: updated.edgeDataCenterId, on: db)
            if let oldPool, oldPool != updated.resourcePoolId { try await ledger.refreshTotals(poolId: oldPool, dataCenterId: nil, on: db) }
        }
        return machine
    }

    /// A new credential replaces the machine's previous ones.
    func issueCredential(machineId: UUID?, cloudBoxId: UUID?, now: Date) async throws -> RegisterResponse {
        try await store.agentCredentials.revokeAll(computeMachineId: machineId, cloudBoxId: cloudBoxId, at: now)
        let secret = SecretToken.generate(.agentCredential)
        let credential = AgentCredential(computeMachineId: machineId, cloudBoxId: cloudBoxId, prefix: secret.prefix)
        try await store.agentCredentials.insert(credential, secretHash: secret.hash)
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
