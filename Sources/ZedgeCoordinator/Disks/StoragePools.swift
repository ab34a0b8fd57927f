import Foundation
import ZedgeCore

/// STORAGE resource pools: a data center's Ceph cluster (`storageConfig`) and its cephx key, which is
/// write-only. The key is stored in `storage_pool_secrets` in the same transaction as the pool, never in a JSON
/// column, never returned or logged, and read only to hand a task to the agent that leased it (`TaskSecrets`).
public struct StoragePools: Sendable {
    let pools: any ModelRepository<ResourcePool>
    let disks: any DiskRepository
    let transactions: Transactions

    public init(pools: any ModelRepository<ResourcePool>, disks: any DiskRepository, transactions: Transactions) {
        self.pools = pools
        self.disks = disks
        self.transactions = transactions
    }

    /// The shortest and longest decoded cephx key accepted (a Ceph key is 28 bytes: 12 of header, 16 of AES key).
    static let keyBytes = 16...512

    /// 400 naming `field` unless `key` is a base64 cephx key, as `ceph auth get-key` prints it.
    public static func checkKey(_ key: String, field: String = "cephKey") -> FieldError? {
        guard let bytes = Data(base64Encoded: key), keyBytes.contains(bytes.count) else {
            return FieldError(field: field, message: "must be a base64 cephx key, as `ceph auth get-key client.NAME` prints it")
        }
        return nil
    }

    /// Stores a new STORAGE pool and its key in one transaction.
    public func create(_ pool: ResourcePool, cephKey: String, now: Date = Date()) async throws {
        let repository = disks
        try await transactions.run { tx in
            try await repository.insertPool(pool, in: tx)
            try await repository.setSecret(poolId: pool.id, cephKey: cephKey, now: now, in: tx)
        }
    }

    /// Writes the pool's changed fields and, when given, its new key, in one transaction.
    public func update(_ pool: ResourcePool, cephKey: String?, now: Date = Date()) async throws -> Bool {
        let repository = disks
        return try await transactions.run { tx in
            guard try await repository.updatePool(pool, in: tx) else { return false }
            if let cephKey { try await repository.setSecret(poolId: pool.id, cephKey: cephKey, now: now, in: tx) }
            return true
        }
    }

    /// The cluster of a STORAGE pool, without its key; nil when the pool is not a STORAGE pool with a config.
    public func cluster(_ poolId: UUID, in tx: Transaction? = nil) async throws -> RbdCluster? {
        guard let pool = try await disks.pool(poolId, in: tx), pool.poolType == .storage, let config = pool.storageConfig else { return nil }
        return config.cluster(storagePoolId: pool.id)
    }
}
