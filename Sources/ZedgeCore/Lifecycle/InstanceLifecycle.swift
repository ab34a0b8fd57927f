#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user's request on an instance.
public enum InstanceAction: String, Sendable, Hashable, CaseIterable, Codable {
    case start, stop, restart, delete
}

/// What a legal request does: the instance's new status and desired status, and the task its host's agent
/// gets (nil when there is nothing to do on the host, e.g. deleting an instance that was never placed).
public struct InstanceTransition: Sendable, Hashable {
    public var status: InstanceStatus
    public var desiredStatus: InstanceDesiredStatus
    public var task: TaskKind?
}

/// A request the instance's status does not allow (a 409).
public struct IllegalTransition: Error, Sendable, Hashable {
    public var action: InstanceAction
    public var status: InstanceStatus
    public var message: String { "Cannot \(action.rawValue) an instance that is \(status.rawValue)." }
}

/// What the reconciler should do about one instance.
public enum ReconcileStep: Sendable, Hashable {
    /// Send `vm.start`: the domain is stopped but should run.
    case start(reason: String)
    /// Send `vm.stop`; `desiredStopped` makes STOPPED the new desired status (a timeout).
    case stop(reason: String, desiredStopped: Bool)
    /// Define the domain again (and start it when it should run): the host no longer has it.
    case recreate(reason: String)
    /// Send `vm.delete` again: an ERROR instance whose deletion failed.
    case delete(reason: String)
    /// No task: an ERROR instance's domain is already in its desired state, so the instance takes that status.
    case settle(InstanceStatus, reason: String)

    /// Why the step is taken (for the audit log).
    public var reason: String {
        switch self {
        case .start(let r), .stop(let r, _), .recreate(let r), .delete(let r), .settle(_, let r): r
        }
    }
}

/// The instance status machine (DESIGN §2): what users may ask for in each status, how agents' results move
/// it, and what the reconciler does to drive `status` toward `desiredStatus`. Pure: time comes in as `now`.
public enum InstanceLifecycle {
    /// The transition for `action`, or why it is illegal. `placed` says whether the instance has a machine
    /// and a domain to act on.
    public static func request(
        _ action: InstanceAction, status: InstanceStatus, placed: Bool
    ) -> Result<InstanceTransition, IllegalTransition> {
        let illegal = Result<InstanceTransition, IllegalTransition>.failure(IllegalTransition(action: action, status: status))
        switch action {
        case .start:
            guard placed, status == .stopped || status == .error else { return illegal }
            return .success(InstanceTransition(status: .starting, desiredStatus: .running, task: .vmStart))
        case .stop:
            guard placed, status == .running || status == .error else { return illegal }
            return .success(InstanceTransition(status: .stopping, desiredStatus: .stopped, task: .vmStop))
        case .restart:
            guard placed, status == .running else { return illegal }
            return .success(InstanceTransition(status: .starting, desiredStatus: .running, task: .vmRestart))
        case .delete:
            guard status != .deleting, status != .deleted else { return illegal }
            return .success(InstanceTransition(status: placed ? .deleting : .deleted, desiredStatus: .deleted,
                                               task: placed ? .vmDelete : nil))
        }
    }

    /// The instance's status after its agent finished a task on it; nil when the result no longer applies
    /// (e.g. a start that finished after the instance was deleted).
    public static func afterTask(
        _ kind: TaskKind, succeeded: Bool, observed: DomainState?, status: InstanceStatus
    ) -> InstanceStatus? {
        if status == .deleted { return nil }
        if status == .deleting, kind != .vmDelete { return nil }
        guard succeeded else { return .error }
        switch kind {
        case .vmCreate, .vmStart, .vmRestart, .vmStop:
            guard let observed else { return kind == .vmStop ? .stopped : .running }
            return isRunning(observed) ? .running : .stopped
        case .vmDelete:
            return .deleted
        default:
            return nil
        }
    }

    /// The instance's status and desired status once the queued task of a request was cancelled before any agent
    /// took it: the request is withdrawn, and the domain was never touched. A start goes back to STOPPED and a stop or
    /// restart to RUNNING, each with that as the desired status (or the reconciler would send the task again). A
    /// create ends in ERROR as a failed one does (its claim is released; the desired status stays, and a delete
    /// clears it). nil when the instance has moved on since (its status is no longer the one the request set), and
    /// for a delete, which is never cancelled (`TaskLifecycle.isCancellable`).
    public static func afterCancel(_ kind: TaskKind, status: InstanceStatus) -> (status: InstanceStatus, desiredStatus: InstanceDesiredStatus?)? {
        switch (kind, status) {
        case (.vmCreate, .creating): (.error, nil)
        case (.vmStart, .starting): (.stopped, .stopped)
        case (.vmRestart, .starting), (.vmStop, .stopping): (.running, .running)
        default: nil
        }
    }

    /// Whether a domain in this state counts as running (paused and blocked guests are still up).
    public static func isRunning(_ state: DomainState) -> Bool {
        switch state {
        case .running, .blocked, .paused, .shuttingDown: true
        case .shutOff, .crashed, .noState, .suspended: false
        }
    }

    /// What to do about one settled instance (RUNNING, STOPPED, or ERROR on a machine). `observed` is the host's
    /// latest report of the domain and is only given when that report is fresh and taken after the instance's last
    /// change (nil `observation` means nothing trustworthy is known); `inFlight` is true while a task for it is
    /// queued or running.
    ///
    /// ERROR is not a dead end: once an instance has been in ERROR for `errorRetryAfter` seconds (nil: never),
    /// the step that reaches its desired status from what its host reports: define a missing domain again, start or
    /// stop the domain, delete it again, or take the domain's state when that is already the desired one. A step
    /// that fails puts it back in ERROR, and the wait starts again.
    public static func reconcile(
        _ instance: Instance, observation: Observation?, inFlight: Bool, now: Date, errorRetryAfter: TimeInterval? = nil
    ) -> ReconcileStep? {
        guard !inFlight else { return nil }
        switch instance.status {
        case .running, .stopped:
            break
        case .error:
            guard let errorRetryAfter, instance.computeMachineId != nil,
                  now.timeIntervalSince(instance.updatedAt) >= errorRetryAfter, let observation else { return nil }
            return repairError(desired: instance.desiredStatus, state: observation.state)
        default:
            return nil
        }
        if instance.status == .running, instance.desiredStatus == .running, let timeoutS = instance.timeoutS,
           let startedAt = instance.startedAt, now.timeIntervalSince(startedAt) >= Double(timeoutS) {
            return .stop(reason: "ran for its timeoutS of \(timeoutS) s", desiredStopped: true)
        }
        guard let observation else { return nil }
        guard let state = observation.state else {
            return .recreate(reason: "the host no longer has the domain")
        }
        switch (instance.desiredStatus, isRunning(state)) {
        case (.running, false): return .start(reason: "the domain was found \(state.rawValue) but should run")
        case (.stopped, true): return .stop(reason: "the domain was found \(state.rawValue) but should be stopped", desiredStopped: false)
        default: return nil
        }
    }

    /// The step that brings an ERROR instance to `desired`, given the domain's state on its host (nil: absent).
    static func repairError(desired: InstanceDesiredStatus, state: DomainState?) -> ReconcileStep {
        let prefix = "in ERROR, desired \(desired.rawValue): "
        if desired == .deleted { return .delete(reason: prefix + "deleting it again") }
        guard let state else { return .recreate(reason: prefix + "the host no longer has the domain") }
        switch (desired, isRunning(state)) {
        case (.running, true): return .settle(.running, reason: prefix + "the domain runs")
        case (.running, false): return .start(reason: prefix + "the domain was found \(state.rawValue)")
        case (_, true): return .stop(reason: prefix + "the domain was found \(state.rawValue)", desiredStopped: false)
        case (_, false): return .settle(.stopped, reason: prefix + "the domain is \(state.rawValue)")
        }
    }

    /// A host's report about one domain: its state, or nil when the host does not have it.
    public struct Observation: Sendable, Hashable {
        public var state: DomainState?
        public init(state: DomainState?) { self.state = state }
    }
}
