import Foundation
import Testing
import ZedgeCore

/// `InstanceLifecycle.reconcile` and `afterTask` as pure rules with an injected clock: ERROR is not a dead end, and a
/// domain its host does not have is what a stop asked for (issue #12).
@Suite struct InstanceReconcileTests {
    let now = Date(timeIntervalSince1970: 3_000_000)

    func instance(_ status: InstanceStatus, desired: InstanceDesiredStatus, placed: Bool = true, since seconds: TimeInterval = 120) -> Instance {
        Instance(name: "i", tenantId: UUID(), userId: UUID(), status: status, desiredStatus: desired,
                 computeMachineId: placed ? UUID() : nil, updatedAt: now.addingTimeInterval(-seconds))
    }

    func step(_ instance: Instance, _ state: DomainState??, inFlight: Bool = false, retry: TimeInterval? = 60) -> ReconcileStep? {
        let observation = state.map { InstanceLifecycle.Observation(state: $0) }
        return InstanceLifecycle.reconcile(instance, observation: observation, inFlight: inFlight, now: now, errorRetryAfter: retry)
    }

    /// The step's case, for comparisons: "recreate", "start", "stop", "stop+desired", "delete", "settle RUNNING".
    func name(_ step: ReconcileStep?) -> String? {
        switch step {
        case nil: nil
        case .recreate: "recreate"
        case .start: "start"
        case .stop(_, let desired): desired ? "stop+desired" : "stop"
        case .delete: "delete"
        case .settle(let status, _): "settle \(status.rawValue)"
        }
    }

    @Test func anErrorInstanceIsBroughtToItsDesiredStatusFromWhatItsHostReports() {
        // Desired RUNNING.
        #expect(name(step(instance(.error, desired: .running), .some(nil))) == "recreate")
        #expect(name(step(instance(.error, desired: .running), .shutOff)) == "start")
        #expect(name(step(instance(.error, desired: .running), .running)) == "settle RUNNING")
        // Desired STOPPED.
        #expect(name(step(instance(.error, desired: .stopped), .some(nil))) == "recreate")
        #expect(name(step(instance(.error, desired: .stopped), .running)) == "stop")
        #expect(name(step(instance(.error, desired: .stopped), .crashed)) == "settle STOPPED")
        // Desired DELETED (a delete that failed): deleted again, whatever the host has.
        #expect(name(step(instance(.error, desired: .deleted), .running)) == "delete")
        #expect(name(step(instance(.error, desired: .deleted), .some(nil))) == "delete")
    }

    @Test func anErrorInstanceWaitsItsRetryIntervalAndNeedsAPlacementAFreshReportAndNothingInFlight() {
        #expect(step(instance(.error, desired: .running, since: 59), .shutOff) == nil, "in ERROR for less than the interval")
        #expect(step(instance(.error, desired: .running, since: 60), .shutOff) != nil)
        #expect(step(instance(.error, desired: .running), .shutOff, retry: nil) == nil, "no retry interval: never")
        #expect(step(instance(.error, desired: .running, placed: false), .some(nil)) == nil, "a failed create has no host to repair on")
        #expect(step(instance(.error, desired: .running), nil) == nil, "nothing trustworthy is known about the domain")
        #expect(step(instance(.error, desired: .running), .shutOff, inFlight: true) == nil)
    }

    @Test func settledInstancesAreRepairedAsBeforeAndTransitionalOnesAreLeftAlone() {
        #expect(name(step(instance(.running, desired: .running, since: 0), .some(nil))) == "recreate")
        #expect(name(step(instance(.stopped, desired: .stopped, since: 0), .some(nil))) == "recreate")
        #expect(step(instance(.running, desired: .running, since: 0), .running) == nil)
        for status in [InstanceStatus.creating, .starting, .stopping, .deleting, .deleted] {
            #expect(step(instance(status, desired: .running), .some(nil)) == nil, "\(status)")
        }
    }

    /// A request cancelled before its host took it is withdrawn: the status it left, and a desired status that
    /// keeps the reconciler from sending it again; nothing once the instance has moved on, and never for a delete.
    @Test func aCancelledRequestIsWithdrawn() {
        func after(_ kind: TaskKind, _ status: InstanceStatus) -> String? {
            InstanceLifecycle.afterCancel(kind, status: status).map { "\($0.status.rawValue)/\($0.desiredStatus?.rawValue ?? "-")" }
        }
        #expect(after(.vmStart, .starting) == "STOPPED/STOPPED")
        #expect(after(.vmStop, .stopping) == "RUNNING/RUNNING")
        #expect(after(.vmRestart, .starting) == "RUNNING/RUNNING")
        #expect(after(.vmCreate, .creating) == "ERROR/-")
        #expect(after(.vmDelete, .deleting) == nil)
        #expect(after(.vmStart, .running) == nil)
        #expect(after(.vmStop, .deleting) == nil)
    }

    @Test func aStopOfADomainTheHostDoesNotHaveReachesStoppedAndAStartOfOneFails() {
        let vm = UUID()
        let stop = TaskResultReport.domainAbsent(.vmStop, vmUuid: vm)
        #expect(stop.outcome == .succeeded && TaskResultReport.saysDomainAbsent(stop.observed))
        #expect(InstanceLifecycle.afterTask(.vmStop, succeeded: true, observed: nil, status: .stopping) == .stopped)
        let delete = TaskResultReport.domainAbsent(.vmDelete, vmUuid: vm)
        #expect(delete.outcome == .succeeded)
        let start = TaskResultReport.domainAbsent(.vmStart, vmUuid: vm)
        #expect(start.outcome == .failed && TaskResultReport.saysDomainAbsent(start.observed))
        #expect(start.error?.contains(vm.uuidString.lowercased()) == true)
        #expect(!TaskResultReport.saysDomainAbsent(["state": "running"]))
        #expect(!TaskResultReport.saysDomainAbsent(nil))
    }
}
