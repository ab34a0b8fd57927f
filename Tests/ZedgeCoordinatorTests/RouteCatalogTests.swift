import Hummingbird
import Testing
@testable import ZedgeCoordinator

/// The catalog's lookup by method and template path (what the authentication and audit middlewares ask for every
/// request) finds each registered route, and nothing for a path or method that has none.
@Suite struct RouteCatalogTests {
    @Test func everyRouteIsFoundByItsMethodAndTemplatePath() async throws {
        try await TestCoordinator.with(.sqlite) { c in
            let catalog = c.started.catalog
            let routes = catalog.all
            #expect(routes.count > 100)
            var seen = Set<String>()
            for route in routes {
                let key = "\(route.method) \(route.templatePath)"
                guard seen.insert(key).inserted else { continue }  // a second registration never answers
                let found = try #require(catalog.route(method: route.method, endpointPath: route.templatePath), "\(key)")
                #expect(found.action == route.action && found.path == route.path, "\(key)")
            }
            #expect(catalog.route(method: .get, endpointPath: "/api/v1/no-such-thing") == nil)
            #expect(catalog.route(method: .patch, endpointPath: "/agent/v1/heartbeat") == nil)
            #expect(catalog.route(method: .post, endpointPath: nil) == nil)
            #expect(catalog.route(method: .post, endpointPath: "/agent/v1/heartbeat")?.action == "agent.heartbeat")
        }
    }
}
