#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user's role (seed): ADMIN (everything), TENANT_ADMIN (its tenant), OPERATOR (infrastructure), USER.
/// Used by User.role and RolePermission.role.
public enum UserRole: String, ZedgeEnum {
    case admin = "ADMIN"
    case tenantAdmin = "TENANT_ADMIN"
    case `operator` = "OPERATOR"
    case user = "USER"
}
