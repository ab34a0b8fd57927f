/// Exponential backoff with full jitter (the AWS "Exponential Backoff and Jitter" scheme):
/// the n-th delay (n from 0) is uniform in `0 ... min(cap, base * 2^n)`.
///
/// Pure value type, no I/O and no clock: the caller sleeps. Call `reset()` after a success.
///
/// ```swift
/// var backoff = Backoff(base: .milliseconds(500), cap: .seconds(60))
/// var rng = SystemRandomNumberGenerator()
/// try await Task.sleep(for: backoff.nextDelay(using: &rng))
/// ```
public struct Backoff: Sendable {
    public let base: Duration
    public let cap: Duration
    /// Number of delays handed out since the last reset (saturates once the ceiling reaches the cap).
    public private(set) var attempt: Int = 0

    private let baseNanos: UInt64
    private let capNanos: UInt64

    /// - Precondition: `base > .zero` and `cap >= base`.
    public init(base: Duration, cap: Duration) {
        precondition(base > .zero, "Backoff base must be positive")
        precondition(cap >= base, "Backoff cap must be at least the base")
        self.base = base
        self.cap = cap
        self.baseNanos = Self.nanoseconds(base)
        self.capNanos = Self.nanoseconds(cap)
    }

    /// The upper bound of the next delay: `min(cap, base * 2^attempt)`.
    public var currentCeiling: Duration {
        .nanoseconds(Int64(ceilingNanos(attempt)))
    }

    /// The next delay, uniform in `0 ... currentCeiling`; advances the attempt counter.
    public mutating func nextDelay(using rng: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceilingNanos(attempt)
        if ceiling < capNanos { attempt += 1 }
        return .nanoseconds(Int64(UInt64.random(in: 0...ceiling, using: &rng)))
    }

    /// Starts again from `base` (call after a successful request).
    public mutating func reset() {
        attempt = 0
    }

    private func ceilingNanos(_ attempt: Int) -> UInt64 {
        guard attempt < 63 else { return capNanos }
        let (scaled, overflow) = baseNanos.multipliedReportingOverflow(by: UInt64(1) << UInt64(attempt))
        return overflow ? capNanos : min(capNanos, scaled)
    }

    /// Whole nanoseconds of a non-negative duration, clamped to what `Duration.nanoseconds(Int64)` can hold.
    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let total = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        if overflow || total.overflow || total.partialValue > UInt64(Int64.max) { return UInt64(Int64.max) }
        return total.partialValue
    }
}
