import Foundation
import Hummingbird
import ZedgeCore

/// `GET /api/v1/admin/consistency` (ADMIN): the no-double-allocation invariants.
public struct AdminController: Sendable {
    let check: ConsistencyCheck

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "consistency", summary: "Check that every allocated counter equals its live claims, and claims match instances",
                  action: "admin.consistency", output: ConsistencyReport.self, use: consistency)
    }

    // MARK: - Route handlers

    /// Check that every allocated counter equals its live claims, and claims match instances (`admin.consistency`).
    func consistency(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        guard principal.role == .admin else { throw Problem.forbidden("Only ADMIN may run the consistency check.") }
        return try JSONResponse.make(try await check.run())
    }
}
