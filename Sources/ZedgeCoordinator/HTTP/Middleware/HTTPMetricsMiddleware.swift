import Hummingbird
import Metrics

/// Counts requests and records their latency per route pattern, method and status, through swift-metrics
/// on an injected factory (the Prometheus one), so no global bootstrap is needed and tests can run many
/// coordinators in one process. Placed outside `ProblemMiddleware`, it sees every answer, errors included.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let dimensions = [
            ("route", context.endpointPath ?? "unmatched"),
            ("method", request.method.rawValue),
            ("status", String(response.status.code)),
        ]
        Counter(label: "zedge_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Metrics.Timer(label: "zedge_http_request_duration_seconds", dimensions: dimensions, factory: factory)
            .record(duration: ContinuousClock.now - start)
        return response
    }
}
