import Foundation
import ZedgeCore

/// Adds the cephx keys a task needs to the copy of its payload handed to the agent that leased it
/// (`GET /agent/v1/tasks`). Stored payloads never hold a key (DESIGN §2, issue #11): the key is read from
/// `storage_pool_secrets` at lease time, for `disk.*` (`cluster`) and `vm.create` (`rbdClusters[]`).
public struct TaskSecrets: Sendable {
    let disks: any DiskRepository

    public init(disks: any DiskRepository) { self.disks = disks }

    /// The payload to send: the stored one with `cephKey` set in every RBD cluster whose pool has a key.
    public func payloadForAgent(_ task: AgentTask) async throws -> JSONValue {
        guard var payload = task.payload.objectValue else { return task.payload }
        switch task.kind {
        case .diskCreate, .diskResize, .diskDelete, .diskAttach, .diskDetach:
            guard let cluster = payload["cluster"] else { return task.payload }
            payload["cluster"] = try await withKey(cluster)
        case .vmCreate:
            guard let clusters = payload["rbdClusters"]?.arrayValue, !clusters.isEmpty else { return task.payload }
            var keyed: [JSONValue] = []
            for cluster in clusters { keyed.append(try await withKey(cluster)) }
            payload["rbdClusters"] = .array(keyed)
        default:
            return task.payload
        }
        return .object(payload)
    }

    func withKey(_ cluster: JSONValue) async throws -> JSONValue {
        guard var object = cluster.objectValue, let poolId = object["storagePoolId"]?.stringValue.flatMap(UUID.init(uuidString:)),
              let key = try await disks.secret(poolId: poolId) else { return cluster }
        object[RbdCluster.secretKey] = .string(key)
        return .object(object)
    }
}
