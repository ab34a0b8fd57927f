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

    /// The limits for the user's requests in the tenant, read now outside any transaction (`QuotaRepository.limits`):
    /// what `check(_:within:tenantId:in:)` then holds a request to. A limit changed after this read applies from the
    /// next request on.
    public func limits(userId: UUID, tenantId: UUID) async throws -> [QuotaLimit] {
        try await quotas.limits(userId: userId, tenantId: tenantId, in: nil)
    }

    /// Checks that `request` fits every level's limits, all read in the caller's transaction.
    public func check(_ request: ResourceUsage, userId: UUID, tenantId: UUID, in tx: Transaction) async throws {
        try await check(request, within: try await quotas.limits(userId: userId, tenantId: tenantId, in: tx), tenantId: tenantId, in: tx)
    }

    /// Checks that `request` fits `limits` against the usage in the caller's transaction. The tenant's row is held
    /// first, so that quota checks of one tenant's creates run one after another (with the usage they read).
    public func check(_ request: ResourceUsage, within limits: [QuotaLimit], tenantId: UUID, in tx: Transaction) async throws {
        try await quotas.lockTenant(tenantId, in: tx)
        var scopes: [QuotaScope] = []
        for limit in limits {
            scopes.append(QuotaScope(level: limit.level, limits: limit.limits, usage: try await quotas.usage(of: limit.owner, in: tx)))
        }
        if let violation = QuotaCheck.check(request, against: scopes) {
            throw DomainError(.conflict, violation.message, title: "Quota exceeded",
                              errors: [FieldError(field: "quota.\(violation.level.kind.lowercased()).\(violation.limit)", message: violation.message)])
        }
    }
}
