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
                  list: Self.list) { request, context in
            let principal = try context.requirePrincipal()
            guard [.admin, .tenantAdmin].contains(principal.role) else {
                throw Problem.forbidden("Only an ADMIN or a TENANT_ADMIN reads the audit log.")
            }
            var parameters = try ListParameters.parse(request, Self.list)
            if principal.role == .tenantAdmin {
                parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
            }
            var errors: [FieldError] = []
            func date(_ name: String) -> Date? {
                guard let text = parameters.extras[name] else { return nil }
                guard let date = ZedgeJSON.parseDate(text) else {
                    errors.append(FieldError(field: name, message: "must be an ISO-8601 date-time"))
                    return nil
                }
                return date
            }
            let since = date("since")
            let until = date("until")
            guard errors.isEmpty else { throw Problem.invalid(errors) }
            return try JSONResponse.make(try await auditLogs.list(
                .init(filters: parameters.filters, since: since, until: until, page: parameters.page)))
        }
    }
}
