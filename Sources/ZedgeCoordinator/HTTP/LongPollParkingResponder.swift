import Hummingbird

/// The coordinator's responder: the router's, with long-polls (`GET /agent/v1/tasks`) answered in two passes
/// (`LongPollPark`) so that a held poll keeps only this responder's frames and its wait, not the middleware's and
/// the handler's (issue #14 item 4). Every other request goes straight to the router.
public struct LongPollParkingResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == ZedgeRequestContext {
    public typealias Context = ZedgeRequestContext
    /// The path of the agent's long-poll (`AgentController.tasks`).
    static var path: String { "/agent/v1/tasks" }

    let inner: Inner
    /// Where a poll learns that its client has gone (nil: it waits its whole time regardless).
    let connections: ClientConnections?

    public init(_ inner: Inner, connections: ClientConnections? = nil) {
        self.inner = inner
        self.connections = connections
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        // Before routing: the path as the router will read it (`/agent/v1/tasks/` is the same route).
        guard request.method == .get, RoutedPath.canonical(request.uri.path) == Self.path else {
            return try await inner.respond(to: request, context: context)
        }
        let park = LongPollPark()
        var context = context
        context.park = park
        defer { park.end() }
        let first = try await pass(request, context)
        guard let wait = park.takeWait() else { return first }
        // A client that closes its side while the poll waits (it gave up, or its agent stopped) ends the wait: the
        // poll must not take tasks that no one will read (`ClientConnections`).
        let watch = connections?.watch(context.connection)
        watch?.onClose { park.clientLeft() }
        await wait()
        watch?.onClose(nil)
        return try await pass(request, context)
    }

    /// One pass through the middleware and the handler, in a child task whose slabs are freed when it ends.
    private func pass(_ request: Request, _ context: Context) async throws -> Response {
        let inner = self.inner
        return try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask { try await inner.respond(to: request, context: context) }
            return try await group.next()!
        }
    }
}
