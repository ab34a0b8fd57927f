import Foundation
import ZedgeCore

/// Carries out one task on the host and says how it ended; never throws (a failure is a FAILED result with
/// the reason). Every operation is idempotent, so a task delivered twice does its work once.
public struct TaskExecutor: Sendable {
    let hypervisor: any Hypervisor

    public init(hypervisor: any Hypervisor) {
        self.hypervisor = hypervisor
    }

    public func execute(_ kind: TaskKind, payload: JSONValue) async -> TaskResultReport {
        do {
            let observed: ObservedVm?
            switch kind {
            case .vmCreate:
                let create = try payload.decode(as: VmCreatePayload.self)
                let problems = create.validate()
                guard problems.isEmpty else {
                    return .init(outcome: .failed, error: "invalid payload: " + problems.map { "\($0.field) \($0.message)" }.joined(separator: "; "))
                }
                observed = try await hypervisor.define(create.spec)
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
                return .init(outcome: .failed, error: "\(kind.rawValue) is not supported by this agent version")
            }
            return .init(outcome: .succeeded, observed: try observed.map { try JSONValue(encoding: $0) } ?? ["deleted": true])
        } catch {
            return .init(outcome: .failed, error: String("\(error)".prefix(2000)))
        }
    }
}
