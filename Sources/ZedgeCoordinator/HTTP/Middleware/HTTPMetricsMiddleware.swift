import Hummingbird

/// Counts requests and records their latency per route pattern, method and status (`ReplicaMetrics`, on the
/// coordinator's own registry, so no global bootstrap is needed and tests can run many coordinators in one
/// process). Placed outside `ProblemMiddleware`, it sees every answer, errors included.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ReplicaMetrics

    public init(metrics: ReplicaMetrics) {
        self.metrics = metrics
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.requestAnswered(route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
                                status: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }
}
