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
    static let keyBytes = 16...510

    /// `cephKey`: base64 (RFC 4648 §4, padded) of 16…510 bytes (`checkKey`).
    public static let keyRule = FieldRule.string(
        ["minLength": 24, "maxLength": 680,
         "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?$"],
        { key, field in checkKey(key, field: field) })

    /// 400 naming `field` unless `key` is a base64 cephx key, as `ceph auth get-key` prints it.
    public static func checkKey(_ key: String, field: String = "cephKey") -> FieldError? {
        // Padded base64 only: Foundation's decoder alone also takes '=' in the middle.
        let body = key.utf8.prefix { $0 != UInt8(ascii: "=") }
        let padding = key.utf8.count - body.count
        let alphabet = { (c: UInt8) in (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F }
        guard key.utf8.count <= 680, key.utf8.count % 4 == 0, padding <= 2, body.allSatisfy(alphabet),
              key.utf8.dropFirst(body.count).allSatisfy({ $0 == UInt8(ascii: "=") }),
              let bytes = Data(base64Encoded: key), keyBytes.contains(bytes.count) else {
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
