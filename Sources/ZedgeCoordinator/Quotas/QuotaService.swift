import Foundation
import ZedgeCore

/// Quotas (DESIGN §2): the limits of a user, each of its groups and its tenant (`quotaConfig`), what their
/// live instances already hold, and the check, user first, then each group, then the tenant. A refusal is
/// a 409 "Quota exceeded" naming the level, the limit and the numbers (field `quota.<level>.<limit>`).
public struct QuotaService: Sendable {
    let quotas: any QuotaRepository

    public init(quotas: any QuotaRepository) {
        self.quotas = quotas
    }

    /// Checks that `request` fits every level's limits, in the caller's transaction. The tenant's row is held
    /// first, so that quota checks of one tenant's creates run one after another.
    public func check(_ request: ResourceUsage, userId: UUID, tenantId: UUID, in tx: Transaction) async throws {
        try await quotas.lockTenant(tenantId, in: tx)
        var scopes: [QuotaScope] = []
        if let user = try await quotas.user(userId, in: tx), let limits = user.quotaConfig {
            scopes.append(QuotaScope(level: .user(user.id, name: user.username), limits: limits,
                                     usage: try await quotas.usage(of: .user(user.id), in: tx)))
        }
        for group in try await quotas.groupQuotas(ofUser: userId, in: tx) {
            scopes.append(QuotaScope(level: .group(group.id, name: group.name), limits: group.limits,
                                     usage: try await quotas.usage(of: .group(group.id), in: tx)))
        }
        if let tenant = try await quotas.tenant(tenantId, in: tx), let limits = tenant.quotaConfig {
            scopes.append(QuotaScope(level: .tenant(tenant.id, name: tenant.name), limits: limits,
                                     usage: try await quotas.usage(of: .tenant(tenantId), in: tx)))
        }
        if let violation = QuotaCheck.check(request, against: scopes) {
            throw DomainError(.conflict, violation.message, title: "Quota exceeded",
                              errors: [FieldError(field: "quota.\(violation.level.kind.lowercased()).\(violation.limit)", message: violation.message)])
        }
    }
}
