import Foundation
import ZedgeCore

/// Carries out one task on the host and says how it ended; never throws (a failure is a FAILED result with
/// the reason). Every operation is idempotent, so a task delivered twice does its work once.
///
/// A ComputeMachine's executor has a `hypervisor` for the `vm.*` kinds; a CloudBox's has a `cloudBox` for the
/// `cloudbox.*` kinds. A kind without its backend fails as not supported.
public struct TaskExecutor: Sendable {
    let hypervisor: (any Hypervisor)?
    let cloudBox: (any CloudBoxControl)?

    public init(hypervisor: (any Hypervisor)?, cloudBox: (any CloudBoxControl)? = nil) {
        self.hypervisor = hypervisor
        self.cloudBox = cloudBox
    }

    public func execute(_ kind: TaskKind, payload: JSONValue) async -> TaskResultReport {
        do {
            switch kind {
            case .vmCreate, .vmStart, .vmStop, .vmRestart, .vmDelete:
                guard let hypervisor else { return Self.unsupported(kind) }
                return try await executeVm(kind, payload: payload, on: hypervisor)
            case .cloudboxBind, .cloudboxUnbind, .cloudboxConfigureNetwork, .cloudboxReboot:
                guard let cloudBox else { return Self.unsupported(kind) }
                return try await executeCloudBox(kind, payload: payload, on: cloudBox)
            default:
                return Self.unsupported(kind)
            }
        } catch {
            return .init(outcome: .failed, error: String("\(error)".prefix(2000)))
        }
    }

    private func executeVm(_ kind: TaskKind, payload: JSONValue, on hypervisor: any Hypervisor) async throws -> TaskResultReport {
        let observed: ObservedVm?
        switch kind {
        case .vmCreate:
            let create = try payload.decode(as: VmCreatePayload.self)
            if let invalid = Self.invalid(create.validate()) { return invalid }
            let defined = try await hypervisor.define(create.spec)
            observed = create.start ? try await hypervisor.start(uuid: create.spec.uuid) : defined
        case .vmStart:
            observed = try await hypervisor.start(uuid: try payload.decode(as: VmRefPayload.self).vmUuid)
        case .vmStop:
            let stop = try payload.decode(as: VmStopPayload.self)
            observed = try await hypervisor.stop(uuid: stop.vmUuid, timeout: .seconds(stop.timeoutS))
        case .vmRestart:
            observed = try await hypervisor.restart(uuid: try payload.decode(as: VmRefPayload.self).vmUuid)
        case .vmDelete:
            try await hypervisor.delete(uuid: try payload.decode(as: VmRefPayload.self).vmUuid)
            observed = nil
        default:
            return Self.unsupported(kind)
        }
        return .init(outcome: .succeeded, observed: try observed.map { try JSONValue(encoding: $0) } ?? ["deleted": true])
    }

    /// Applies a `cloudbox.*` task; `observed` is the box's `CloudBoxState` after it (which never carries the
    /// console ticket), plus `"unbind": CloudBoxUnbindOutcome` for an unbind.
    private func executeCloudBox(_ kind: TaskKind, payload: JSONValue, on box: any CloudBoxControl) async throws -> TaskResultReport {
        var extra: [String: JSONValue] = [:]
        switch kind {
        case .cloudboxBind:
            let bind = try payload.decode(as: CloudBoxBindPayload.self)
            if let invalid = Self.invalid(bind.validate()) { return invalid }
            try await box.bind(bind)
        case .cloudboxUnbind:
            let unbind = try payload.decode(as: CloudBoxUnbindPayload.self)
            if let invalid = Self.invalid(unbind.validate()) { return invalid }
            extra["unbind"] = .string(try await box.unbind(unbind).rawValue)
        case .cloudboxConfigureNetwork:
            let network = try payload.decode(as: CloudBoxNetworkPayload.self)
            if let invalid = Self.invalid(network.validate()) { return invalid }
            try await box.configureNetwork(network)
        case .cloudboxReboot:
            let reboot = try payload.decode(as: CloudBoxRebootPayload.self)
            if let invalid = Self.invalid(reboot.validate()) { return invalid }
            try await box.reboot(reboot)
        default:
            return Self.unsupported(kind)
        }
        var observed = try JSONValue(encoding: try await box.current()).objectValue ?? [:]
        observed.merge(extra) { $1 }
        return .init(outcome: .succeeded, observed: .object(observed))
    }

    /// A FAILED result naming every invalid field, or nil when there is none.
    private static func invalid(_ problems: [FieldError]) -> TaskResultReport? {
        if problems.isEmpty { return nil }
        return .init(outcome: .failed, error: "invalid payload: " + problems.map { "\($0.field) \($0.message)" }.joined(separator: "; "))
    }

    private static func unsupported(_ kind: TaskKind) -> TaskResultReport {
        .init(outcome: .failed, error: "\(kind.rawValue) is not supported by this agent version")
    }
}
