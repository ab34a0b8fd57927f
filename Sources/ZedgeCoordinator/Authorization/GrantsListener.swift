import Foundation
import Logging
import ServiceLifecycle
import ZedgeCore

/// Keeps this replica's `RoleGrants` equal to the RolePermission rows: with PostgreSQL it LISTENs on
/// `zedge_grants` (every change of the rows, through any replica, NOTIFYs it at commit) and reloads on each
/// notification and after each reconnect; on any engine it also reloads every `interval`, so that rows changed
/// behind the coordinator's back (`zedge-coordinator reset-role-permissions` on a running SQLite coordinator, say)
/// are not cached for the process's life.
public struct GrantsListener: Service {
    let sessions: ReplicaSessions
    let rolePermissions: any RolePermissionRepository
    let grants: RoleGrants
    let interval: Duration
    let logger: Logger

    public init(sessions: ReplicaSessions, rolePermissions: any RolePermissionRepository, grants: RoleGrants,
                interval: Duration = .seconds(30), logger: Logger) {
        self.sessions = sessions
        self.rolePermissions = rolePermissions
        self.grants = grants
        self.interval = interval
        self.logger = logger
    }

    /// Reads the rows and replaces the grants.
    public static func reload(_ grants: RoleGrants, from rolePermissions: any RolePermissionRepository) async throws {
        grants.replace(with: try await rolePermissions.grantsByRole())
    }

    public func run() async throws {
        let grants = self.grants, rolePermissions = self.rolePermissions, logger = self.logger
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isShuttingDownGracefully {
                    do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
                    do { try await Self.reload(grants, from: rolePermissions) } catch {
                        logger.warning("role grants not reloaded", metadata: ["error": "\(error)"])
                    }
                }
            }
            guard sessions.isShared else { return }
            while !Task.isShuttingDownGracefully {
                do {
                    // The grants are read again once each connection's LISTEN is in force, for changes made while
                    // there was none.
                    let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                    group.addTask {
                        for await _ in changes {
                            do { try await Self.reload(grants, from: rolePermissions) } catch {
                                logger.warning("role grants not reloaded", metadata: ["error": "\(error)"])
                            }
                        }
                    }
                    defer { continuation.finish() }
                    try await sessions.listen(on: GrantsChannel.name, listening: { continuation.yield() }) { _ in continuation.yield() }
                } catch {
                    guard !Task.isShuttingDownGracefully else { break }
                    logger.warning("role grant changes from other replicas paused; reconnecting", metadata: ["error": "\(error)"])
                }
                do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { break }
            }
        }
    }
}
