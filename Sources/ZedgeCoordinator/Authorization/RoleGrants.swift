import Foundation
import Synchronization
import ZedgeCore

/// The permission names each role holds, as the RolePermission rows said when last read. Shared by every copy of
/// the `Authorizer`, and replaced whole when the rows change (`GrantsListener`, and at once by the replica that
/// changed them), so a grant or a revocation takes effect on the next request.
public final class RoleGrants: Sendable {
    private let grants: Mutex<[UserRole: Set<String>]>

    public init(_ grants: [UserRole: Set<String>]) {
        self.grants = Mutex(grants)
    }

    /// Whether `role` holds the permission named `name` (`RESOURCE:ACTION`).
    public func contains(_ role: UserRole, _ name: String) -> Bool {
        grants.withLock { $0[role]?.contains(name) ?? false }
    }

    /// Every role's grants, as a value.
    public var snapshot: [UserRole: Set<String>] { grants.withLock { $0 } }

    /// Replaces every role's grants.
    public func replace(with new: [UserRole: Set<String>]) {
        grants.withLock { $0 = new }
    }
}
