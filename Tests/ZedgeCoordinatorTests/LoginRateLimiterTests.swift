import Synchronization
import Testing
@testable import ZedgeCoordinator

@Suite struct LoginRateLimiterTests {
    final class Clock: Sendable {
        let now = Synchronization.Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
    }

    @Test func limitsPerUsernameAndForgetsAfterTheWindow() {
        let clock = Clock()
        let limiter = LoginRateLimiter(limits: .init(perUsername: 2, perAddress: 10, window: .seconds(60)), clock: { clock.now.withLock { $0 } })
        #expect(limiter.retryAfter(username: "Bob", address: "10.0.0.1") == nil)
        limiter.recordFailure(username: "bob", address: "10.0.0.1")
        limiter.recordFailure(username: "BOB", address: "10.0.0.2")
        #expect(limiter.retryAfter(username: "bob", address: "10.0.0.3") == 60)
        clock.advance(.seconds(30))
        #expect(limiter.retryAfter(username: "bob", address: String?.none) == 30)
        clock.advance(.seconds(31))
        #expect(limiter.retryAfter(username: "bob", address: String?.none) == nil)
    }

    @Test func limitsPerAddressAcrossUsernames() {
        let limiter = LoginRateLimiter(limits: .init(perUsername: 100, perAddress: 3, window: .seconds(60)))
        for name in ["a", "b", "c"] { limiter.recordFailure(username: name, address: "192.0.2.1") }
        #expect(limiter.retryAfter(username: "d", address: "192.0.2.1") != nil)
        #expect(limiter.retryAfter(username: "d", address: "192.0.2.2") == nil)
        limiter.recordSuccess(username: "a")
        #expect(limiter.retryAfter(username: "d", address: "192.0.2.1") != nil)
    }
}
