import Foundation
import ZedgeCore

/// Which tenant a new tenant-owned object (an instance, a disk, a VPC, a place) belongs to: the caller's own, or for
/// ADMIN the one named in the request's `tenantId` (its own when none is named). 422 naming `tenantId` when ADMIN
/// names no tenant and belongs to none, or names one that does not exist (or is INACTIVE); 403 naming it when anyone
/// else names another tenant.
public enum TenantOwnership {
    /// - Parameter objects: what is being created, plural and capitalised, for the 403's message ("Instances").
    public static func owningTenant(_ requested: UUID?, _ principal: Principal, tenants: any ModelRepository<Tenant>,
                                    objects: String) async throws -> UUID {
        if principal.role == .admin {
            guard let tenantId = requested ?? principal.tenantId else {
                throw DomainError.invalid(field: "tenantId", "is required: the admin user belongs to no tenant")
            }
            guard try await tenants.find(tenantId).map({ $0.status != .inactive }) == true else { throw DomainError.invalid(field: "tenantId", "no such tenant") }
            return tenantId
        }
        guard let own = principal.tenantId, requested == nil || requested == own else {
            throw DomainError(.forbidden, "\(objects) are created in your own tenant.",
                              errors: [FieldError(field: "tenantId", message: "must be your own tenant")])
        }
        return own
    }
}
