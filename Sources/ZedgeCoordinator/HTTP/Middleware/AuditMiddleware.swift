import Foundation
import Hummingbird
import Logging
import ZedgeCore

/// Writes one AuditLog row for every mutation (any method but GET/HEAD/OPTIONS) under `/api`, and every
/// agent registration, allowed or
/// refused: SUCCESS for 2xx, DENIED for 401/403/404/429, FAILED otherwise. The action and resource type come
/// from the route catalog, the actor and object from `RequestAudit`. Sits outside `ProblemMiddleware` so it
/// sees the final status of every answer.
public struct AuditMiddleware: RouterMiddleware {
    public typealias Context = ZedgeRequestContext
    let repository: any TimeSeriesRepository<AuditLog>
    let catalog: RouteCatalog

    public init(repository: any TimeSeriesRepository<AuditLog>, catalog: RouteCatalog) {
        self.repository = repository
        self.catalog = catalog
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let response = try await next(request, context)
        let path = RoutedPath.of(request, context)
        let audited = path.hasPrefix("/api/") || path == "/agent/v1/register"
        guard ![.get, .head, .options].contains(request.method), audited else {
            return response
        }
        let route = catalog.route(method: request.method, endpointPath: context.endpointPath)
        let status: AuditStatus = switch response.status.code {
        case 200..<300: .success
        case 401, 403, 404, 429: .denied
        default: .failed
        }
        let recorded = context.audit.snapshot
        var details = recorded.details
        details["httpStatus"] = .number(Double(response.status.code))
        if route == nil { details["path"] = .string(request.uri.path) }
        let entry = AuditLog(
            userId: recorded.userId, tenantId: recorded.tenantId,
            action: route?.action ?? "\(request.method.rawValue.lowercased()).unmatched",
            resourceType: route?.resourceType ?? "UNKNOWN",
            resourceId: recorded.resourceId,
            details: .object(details),
            ipAddress: context.clientAddress,
            userAgent: request.headers[.userAgent].map { String($0.prefix(512)) },
            status: status)
        do {
            try await repository.append(entry)
        } catch {
            // The answer has been decided; a failed audit write must be loud in the logs.
            context.logger.error("audit write failed", metadata: ["error": "\(String(reflecting: error))", "action": "\(entry.action)"])
        }
        return response
    }
}
