import Hummingbird

/// Counts requests and records their latency per route pattern, method and status (`ReplicaMetrics`, on the
/// coordinator's own registry, so no global bootstrap is needed and tests can run many coordinators in one
/// process). Placed outside `ProblemMiddleware`, it sees every answer, errors included. A long-poll answered in two
/// passes (`LongPollPark`) is one request, timed from its arrival: the first pass's placeholder is not counted.
public struct HTTPMetricsMiddleware: RouterMiddleware {
    public typealias Context = ZedgeRequestContext
    let metrics: ReplicaMetrics

    public init(metrics: ReplicaMetrics) {
        self.metrics = metrics
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = context.park?.arrivedAt ?? ContinuousClock.now
        let response = try await next(request, context)
        if context.park?.isHolding == true { return response }
        metrics.requestAnswered(route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
                                status: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }
}
