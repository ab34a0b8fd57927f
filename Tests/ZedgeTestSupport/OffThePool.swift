import Dispatch

/// Runs blocking work (a socket read with a deadline, a WebSocket connect or relay, a VNC client) on a Dispatch
/// thread of its own. All suites share one process and its cooperative pool (as many threads as cores, 2 here); a
/// wait that blocks a pool thread starves the in-process coordinators of the suites running beside it.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "zedge.test.blocking").async { continuation.resume(with: Result { try body() }) }
    }
}

/// `offThePool` for work that cannot fail.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue(label: "zedge.test.blocking").async { continuation.resume(returning: body()) }
    }
}
