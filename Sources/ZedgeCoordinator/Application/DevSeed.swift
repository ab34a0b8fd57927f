import Foundation
import ZedgeCore

/// Dev mode's demo data: a data center and a pool to register the local agent into, a public template so an
/// instance can be created at once, and a fresh one-use enrollment token for the agent (returned once).
enum DevSeed {
    static let dataCenterName = "dev-edge"
    static let poolName = "dev-pool"
    static let templateName = "dev-small"
    static let tenantName = "dev"

    static func seed(_ store: Store) async throws -> String {
        let center: EdgeDataCenter
        if let existing = try await store.edgeDataCenters.first([.init("name", .string(dataCenterName))]) {
            center = existing
        } else {
            center = EdgeDataCenter(name: dataCenterName, location: "localhost", status: .active)
            try await store.edgeDataCenters.insert(center)
        }
        let pool: ResourcePool
        if let existing = try await store.resourcePools.first([.equal("edgeDataCenterId", center.id), .init("name", .string(poolName))]) {
            pool = existing
        } else {
            pool = ResourcePool(name: poolName, description: "The local agent's pool", edgeDataCenterId: center.id,
                                poolType: .compute, schedulingPolicy: SchedulingPolicyName.loadBalance, status: .active)
            try await store.resourcePools.insert(pool)
        }
        if try await store.tenants.first([.init("name", .string(tenantName))]) == nil {
            try await store.tenants.insert(Tenant(name: tenantName, description: "Dev mode's demo tenant", status: .active))
        }
        if try await store.templates.first([.init("name", .string(templateName))]) == nil,
           let admin = try await store.users.first([.init("username", .string("admin"))]) {
            let config = TemplateConfig(cpuCores: 1, memoryGb: 1, storageGb: 10)
            let template = Template(name: templateName, description: "1 vCPU, 1 GB: the dev agent's demo instance",
                                    useCase: .general, defaultCpuCores: 1, defaultMemoryGb: 1, defaultStorageGb: 10,
                                    visibility: .public, ownerId: admin.id)
            try await store.templates.create(template, version: TemplateVersion(
                templateId: template.id, versionNumber: template.version, isLatest: true, configSnapshot: try JSONValue(encoding: config),
                changelog: "seeded by dev mode", createdBy: admin.id), groupIds: [])
        }
        let secret = SecretToken.generate(.enrollmentToken)
        try await store.enrollmentTokens.insert(
            EnrollmentToken(edgeDataCenterId: center.id, resourcePoolId: pool.id, kind: .computeMachine, prefix: secret.prefix,
                            usesLeft: 1, usesTotal: 1, expiresAt: Date().addingTimeInterval(600)),
            tokenHash: secret.hash)
        return secret.value
    }
}
