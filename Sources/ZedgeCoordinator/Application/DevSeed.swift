import Foundation
import ZedgeCore

/// Dev mode's demo data: a data center and a pool to register the local agent into, and a fresh one-use
/// enrollment token for it (returned once, like any token).
enum DevSeed {
    static let dataCenterName = "dev-edge"
    static let poolName = "dev-pool"

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
        let secret = SecretToken.generate(.enrollmentToken)
        try await store.enrollmentTokens.insert(
            EnrollmentToken(edgeDataCenterId: center.id, resourcePoolId: pool.id, kind: .computeMachine, prefix: secret.prefix,
                            usesLeft: 1, usesTotal: 1, expiresAt: Date().addingTimeInterval(600)),
            tokenHash: secret.hash)
        return secret.value
    }
}
