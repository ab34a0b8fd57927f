import Foundation
import ZedgeCore

/// The pure rules of liveness and health: no I/O, an explicit clock.
public enum HostLiveness {
    /// The status a ComputeMachine should move to, or nil to stay. Only ACTIVE ↔ OFFLINE move by
    /// heartbeat: MAINTENANCE and DECOMMISSIONING are an operator's to change.
    public static func machineTransition(
        status: ComputeMachineStatus, lastHeartbeat: Date?, now: Date, timeout: TimeInterval
    ) -> ComputeMachineStatus? {
        let alive = lastHeartbeat.map { now.timeIntervalSince($0) < timeout } ?? false
        switch (status, alive) {
        case (.active, false) where lastHeartbeat != nil: return .offline
        case (.offline, true): return .active
        default: return nil
        }
    }

    /// The status a CloudBox should move to, or nil to stay: a heartbeat brings INITIALIZING and OFFLINE
    /// boxes ONLINE; silence takes ONLINE ones OFFLINE. MAINTENANCE and ERROR stay.
    public static func cloudBoxTransition(
        status: CloudBoxStatus, lastHeartbeat: Date?, now: Date, timeout: TimeInterval
    ) -> CloudBoxStatus? {
        let alive = lastHeartbeat.map { now.timeIntervalSince($0) < timeout } ?? false
        switch (status, alive) {
        case (.online, false) where lastHeartbeat != nil: return .offline
        case (.offline, true), (.initializing, true): return .online
        default: return nil
        }
    }
}
