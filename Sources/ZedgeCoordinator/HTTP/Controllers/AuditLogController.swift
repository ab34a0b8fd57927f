import Foundation
import Hummingbird
import ZedgeCore

/// `GET /api/v1/audit-logs`: ADMIN reads everything, a TENANT_ADMIN its tenant's rows.
public struct AuditLogController: Sendable {
    let auditLogs: any TimeSeriesRepository<AuditLog>

    static let list = ListSpec(
        filters: ["userId": .uuid, "resourceType": .string, "action": .string, "status": .of(AuditStatus.self)],
        extras: ["since": .dateTime, "until": .dateTime])

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "", summary: "Query the audit log", action: "audit-log.list", output: Page<AuditLog>.self,
                  list: Self.list, use: list)
    }

    // MARK: - Route handlers

    /// Query the audit log (`audit-log.list`); `since` and `until` bound `createdAt` (ISO 8601; 422 on `until` when it is
    /// earlier than `since`: each is well-formed, the pair is not a window).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        guard [.admin, .tenantAdmin].contains(principal.role) else {
            throw Problem.forbidden("Only an ADMIN or a TENANT_ADMIN reads the audit log.")
        }
        var parameters = try ListParameters.parse(request, Self.list)
        // An empty window is a mistake in the query, not an empty log.
        if let since = parameters.date("since"), let until = parameters.date("until"), until < since {
            throw Problem.invalid(field: "until", "must not be earlier than since")
        }
        if principal.role == .tenantAdmin {
            parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
        }
        return try JSONResponse.make(try await auditLogs.list(
            .init(filters: parameters.filters, since: parameters.date("since"), until: parameters.date("until"), page: parameters.page)))
    }
}
