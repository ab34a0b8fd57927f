#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ZedgeCore

/// Sends a heartbeat every interval the coordinator asks for, with fresh readings and the VMs the
/// hypervisor sees. When the coordinator cannot be reached it keeps the host's VMs untouched and retries
/// with exponential backoff and full jitter; a refused (revoked) credential ends the loop with an error.
public struct HeartbeatLoop: Sendable {
    let client: CoordinatorClient
    let metrics: MetricsCollector
    let hypervisor: (any Hypervisor)?
    /// Reported as `cachedImages` (ComputeMachines).
    let images: ImageCache?
    /// Reported as `integrationBridge` when it exists (ComputeMachines; re-checked at most once a minute).
    let integrationBridge: IntegrationBridge?
    let logger: Logger
    let initialInterval: Int

    public init(client: CoordinatorClient, metrics: MetricsCollector, hypervisor: (any Hypervisor)?, images: ImageCache? = nil,
                integrationBridge: IntegrationBridge? = nil, initialInterval: Int, logger: Logger) {
        self.client = client
        self.metrics = metrics
        self.hypervisor = hypervisor
        self.images = images
        self.integrationBridge = integrationBridge
        self.initialInterval = initialInterval
        self.logger = logger
    }

    /// Runs until cancelled (returns) or the credential is refused (throws).
    public func run() async throws {
        var interval = max(1, initialInterval)
        var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
        var random = SystemRandomNumberGenerator()
        var backlog = ReadingBacklog()
        while !Task.isCancelled {
            let delay: Duration
            let reading = MetricReading(at: Date(), metrics: await metrics.collect())
            do {
                let request = HeartbeatRequest(
                    metrics: reading.metrics,
                    observedVms: (try? await hypervisor?.list()) ?? [],
                    agentVersion: ZedgeVersion.current,
                    backlog: backlog.readings.isEmpty ? nil : backlog.readings,
                    cachedImages: images.map { Array($0.cachedImages().prefix(HeartbeatRequest.maximumCachedImages)) },
                    integrationBridge: await integrationBridge?.reportedName())
                let answer = try await client.heartbeat(request)
                interval = max(1, answer.heartbeatIntervalS)
                logger.debug("heartbeat sent", metadata: ["observedVms": "\(request.observedVms.count)", "nextInS": "\(interval)"])
                if backoff.attempt > 0 {
                    logger.notice("coordinator reachable again", metadata: ["delivered": "\(backlog.readings.count)", "dropped": "\(backlog.dropped)"])
                }
                backlog.removeAll()
                backoff.reset()
                delay = .seconds(interval)
            } catch let refusal as CoordinatorClient.Refusal where refusal.status == 401 {
                throw AgentError("the coordinator refused this agent's credential (\(refusal.detail)); register it again")
            } catch is CancellationError {
                return
            } catch {
                backlog.append(reading)  // kept for the next heartbeat that gets through (bounded)
                delay = min(backoff.nextDelay(using: &random), .seconds(interval) * 6)
                logger.warning("heartbeat failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
            }
            do { try await Task.sleep(for: delay) } catch { return }
        }
    }
}
