#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The life of an `IpAddress` row, as a value with an injected clock (no I/O).
///
/// ALLOCATED (an instance or a user holds it) and RESERVED (kept out of automatic allocation) may carry a
/// `leaseExpiresAt`; when it passes, the address is released. A released address is FROZEN for a cool-down,
/// so that stale ARP and IPv6 neighbour caches elsewhere stop sending the last holder's traffic to it (the
/// reason Neutron and AWS delay reuse), and `leaseExpiresAt` then says when the freeze ends. After that the
/// row turns AVAILABLE and stays, as history; only ALLOCATED, RESERVED and FROZEN rows hold an address.
public struct IpAddressLifecycle: Sendable, Hashable {
    public var status: IpAddressStatus
    /// ALLOCATED/RESERVED: when the hold lapses (nil: never). FROZEN: when the address is free again.
    public var leaseExpiresAt: Date?

    public init(status: IpAddressStatus, leaseExpiresAt: Date?) {
        self.status = status
        self.leaseExpiresAt = leaseExpiresAt
    }

    /// The state once every transition due by `now` has happened: a lapsed lease has frozen the address
    /// (from the moment it lapsed) and a freeze that has run out has freed it.
    public func at(_ now: Date, coolDown: TimeInterval) -> IpAddressLifecycle {
        var state = self
        if state.status == .allocated || state.status == .reserved, let lease = state.leaseExpiresAt, lease <= now {
            state = IpAddressLifecycle(status: .frozen, leaseExpiresAt: lease.addingTimeInterval(coolDown))
        }
        if state.status == .frozen, let until = state.leaseExpiresAt, until <= now {
            state = IpAddressLifecycle(status: .available, leaseExpiresAt: nil)
        }
        if state.status == .frozen, state.leaseExpiresAt == nil {  // a freeze with no end is over
            state = IpAddressLifecycle(status: .available, leaseExpiresAt: nil)
        }
        return state
    }

    /// Whether the address is held (not to be handed out) at `now`.
    public func holds(at now: Date, coolDown: TimeInterval) -> Bool {
        at(now, coolDown: coolDown).status != .available
    }

    /// Released at `now`: FROZEN until the cool-down ends (AVAILABLE at once with no cool-down). Releasing
    /// what is not held changes nothing.
    public func released(at now: Date, coolDown: TimeInterval) -> IpAddressLifecycle {
        let current = at(now, coolDown: coolDown)
        guard current.status == .allocated || current.status == .reserved else { return current }
        return coolDown > 0 ? IpAddressLifecycle(status: .frozen, leaseExpiresAt: now.addingTimeInterval(coolDown))
            : IpAddressLifecycle(status: .available, leaseExpiresAt: nil)
    }
}
