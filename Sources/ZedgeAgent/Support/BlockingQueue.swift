import Dispatch

/// Runs blocking work (SQLite's fsync, file I/O) on a serial dispatch queue of its own, so that it never holds
/// one of Swift's cooperative threads, which the agent's loops share.
public final class BlockingQueue: Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
