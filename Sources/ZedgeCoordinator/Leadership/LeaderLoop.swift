import Foundation
import Logging
import ServiceLifecycle

/// A background loop: every `interval` it runs `tick`, on the leader only (or on every replica when
/// `leadership` is nil), until graceful shutdown; then `final` runs once. A failing tick is logged and the
/// next one tries again. Lease expiry, liveness and the reconciler are each one of these. With an `executor`, a
/// tick's synchronous stretches run on its thread rather than on the cooperative pool that serves requests
/// (`ThreadExecutor`).
public struct LeaderLoop: Service {
    let name: String
    let interval: Duration
    let leadership: Leadership?
    let executor: ThreadExecutor?
    let logger: Logger
    let tick: @Sendable (Date) async throws -> Void
    let final: (@Sendable () async -> Void)?

    public init(
        _ name: String, every interval: Duration, leadership: Leadership?, executor: ThreadExecutor? = nil, logger: Logger,
        final: (@Sendable () async -> Void)? = nil, tick: @escaping @Sendable (Date) async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.leadership = leadership
        self.executor = executor
        self.logger = logger
        self.tick = tick
        self.final = final
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
            guard leadership?.isLeader ?? true else { continue }
            do { try await withTaskExecutorPreference(executor) { try await tick(Date()) } } catch {
                logger.error("\(name) failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        await final?()
    }
}
