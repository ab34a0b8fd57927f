#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a machine's health follows its readings: entered over a window, left only after a transition period
/// below lower limits (hysteresis), so that one busy sample never flips it. `HealthWindow` applies it.
///
/// After Kubernetes' node-pressure eviction: a soft eviction threshold must hold for its grace period
/// (`--eviction-soft-grace-period`) before the kubelet acts, and a node leaves a pressure condition only
/// after `--eviction-pressure-transition-period` (default 5m) without meeting it, which keeps a node that
/// oscillates around a threshold from flapping its condition and the scheduler's view of it
/// (kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction, "Node condition oscillation";
/// `PressureTransitionPeriod` in k8s.io/kubernetes/pkg/kubelet/eviction).
///
/// - Enter WARNING or CRITICAL when the readings of the last `window` seconds (at least `minimumReadings`
///   of them) reach that level's limits in at least `enterFraction` of them (by default 80 %: the window's
///   20th percentile is over the limit). A level is entered at once, even from nothing known.
/// - Leave a level only when every reading for `transitionPeriod` seconds has stayed below its limits lowered
///   by `recoveryMargin` (readings that stop for longer than `window` start the count again). CRITICAL steps
///   down to WARNING, or to HEALTHY when the readings have also stayed below WARNING's lowered limits.
/// - A window that knows nothing yet (a coordinator that starts, a replica that first hears from a host)
///   decides nothing until its readings enter a level, or stay below CRITICAL's lowered limits for the
///   transition period (then HEALTHY, or WARNING if the window enters it): the stored health stays until then.
public struct HealthPolicy: Sendable, Hashable {
    public var thresholds: HealthThresholds
    /// Seconds of readings that decide whether a level is entered. Default 60 (6 heartbeats at 10 s).
    public var window: TimeInterval
    /// The share of the window's readings that must reach a level to enter it, in (0, 1]. Default 0.8.
    public var enterFraction: Double
    /// The fewest readings in the window that may enter a level. Default 3.
    public var minimumReadings: Int
    /// Seconds every reading must stay below a level's lowered limits before it is left. Default 300 (the
    /// kubelet's `--eviction-pressure-transition-period`).
    public var transitionPeriod: TimeInterval
    /// How far below a level's limits (points of percent, or °C) a reading must be to count towards leaving
    /// it. Default 5.
    public var recoveryMargin: Double
    /// The most readings a window keeps, however often they come (memory and work per heartbeat stay bounded).
    /// Default 64.
    public var maximumReadings: Int

    public init(
        thresholds: HealthThresholds = .init(), window: TimeInterval = 60, enterFraction: Double = 0.8, minimumReadings: Int = 3,
        transitionPeriod: TimeInterval = 300, recoveryMargin: Double = 5, maximumReadings: Int = 64
    ) {
        self.thresholds = thresholds
        self.window = max(0, window)
        self.enterFraction = min(1, max(0.01, enterFraction))
        self.minimumReadings = max(1, minimumReadings)
        self.transitionPeriod = max(0, transitionPeriod)
        self.recoveryMargin = max(0, recoveryMargin)
        self.maximumReadings = max(1, maximumReadings)
    }
}
