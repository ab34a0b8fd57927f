import Foundation
import Hummingbird
import ZedgeCore

/// `/healthz`, `/readyz`, `/metrics` and `/api/v1/openapi.json`.
public struct SystemController: Sendable {
    let database: Database
    let metrics: MetricsRegistry
    let catalog: RouteCatalog

    struct Health: Codable, Sendable { var status: String }
    /// Prometheus text exposition (described as a string in the OpenAPI document).
    struct PrometheusText: Decodable {}

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "healthz", summary: "Liveness: the process answers", action: "system.health",
                  output: Health.self, authenticated: false, use: health)
        routes.on(.get, "readyz", summary: "Readiness: the database answers (503 otherwise)", action: "system.ready",
                  output: Health.self, authenticated: false, use: ready)
        routes.on(.get, "metrics", summary: "Prometheus metrics (text format 0.0.4)", action: "system.metrics",
                  output: EmptyBody.self, authenticated: false, use: metrics)
        routes.on(.get, "api/v1/openapi.json", summary: "This OpenAPI 3.1 document", action: "system.openapi",
                  output: JSONValue.self, authenticated: false, use: openapi)
    }

    // MARK: - Route handlers

    /// Liveness: the process answers (`system.health`).
    func health(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(Health(status: "ok"))
    }

    /// Readiness: the database answers (503 otherwise) (`system.ready`).
    func ready(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let ready = await database.ping()
        return try JSONResponse.make(
            Health(status: ready ? "ready" : "database unavailable"), status: ready ? .ok : .serviceUnavailable)
    }

    /// Prometheus metrics (text format 0.0.4) (`system.metrics`).
    func metrics(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: await metrics.exposition())))
    }

    /// This OpenAPI 3.1 document (`system.openapi`).
    func openapi(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(OpenAPIDocument.build(from: catalog))
    }
}
