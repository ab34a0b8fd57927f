import Foundation
import Synchronization

/// Counts failed logins per username and per client address in a sliding window and refuses further
/// attempts (429 with Retry-After) once either passes its limit. In memory: a restart forgets, which
/// errs towards letting a legitimate user back in.
public final class LoginRateLimiter: Sendable {
    public struct Limits: Sendable {
        public var perUsername: Int
        public var perAddress: Int
        public var window: Duration

        public init(perUsername: Int = 5, perAddress: Int = 20, window: Duration = .seconds(300)) {
            self.perUsername = perUsername
            self.perAddress = perAddress
            self.window = window
        }
    }

    private struct State {
        var failures: [String: [ContinuousClock.Instant]] = [:]
    }

    private let limits: Limits
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    public init(limits: Limits = .init(), clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.limits = limits
        self.clock = clock
    }

    /// Seconds to wait before another attempt is allowed, or nil when one may be made now.
    public func retryAfter(username: String, address: String?) -> Int? {
        let now = clock()
        return state.withLock { state in
            var waits: [Duration] = []
            for (key, limit) in keys(username: username, address: address) {
                let recent = prune(&state, key: key, now: now)
                if recent.count >= limit, let oldest = recent.first {
                    waits.append(oldest + limits.window - now)
                }
            }
            guard let wait = waits.max() else { return nil }
            return max(1, Int((wait / .seconds(1)).rounded(.up)))
        }
    }

    public func recordFailure(username: String, address: String?) {
        let now = clock()
        state.withLock { state in
            for (key, _) in keys(username: username, address: address) {
                _ = prune(&state, key: key, now: now)
                state.failures[key, default: []].append(now)
            }
        }
    }

    /// A successful login clears the username's failures (the address keeps its count).
    public func recordSuccess(username: String) {
        state.withLock { state in _ = state.failures.removeValue(forKey: "u:" + username.lowercased()) }
    }

    private func keys(username: String, address: String?) -> [(String, Int)] {
        var keys = [("u:" + username.lowercased(), limits.perUsername)]
        if let address { keys.append(("a:" + address, limits.perAddress)) }
        return keys
    }

    private func prune(_ state: inout State, key: String, now: ContinuousClock.Instant) -> [ContinuousClock.Instant] {
        let kept = (state.failures[key] ?? []).filter { now - $0 < limits.window }
        state.failures[key] = kept.isEmpty ? nil : kept
        return kept
    }
}
