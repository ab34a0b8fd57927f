import Foundation
import ZedgeCore

/// An instance's serial console output (what Nova's `os-getConsoleOutput` and EC2's GetConsoleOutput give
/// users): the last lines of the log the agent keeps for the VM's serial port, fetched through the agent's own
/// dial-out connection as an agent call.
public struct ConsoleLogService: Sendable {
    let virtualMachines: any VirtualMachineRepository
    let computeMachines: any ModelRepository<ComputeMachine>
    let calls: AgentCallBroker
    /// How long a user waits for the agent's answer.
    let timeout: Duration

    public init(virtualMachines: any VirtualMachineRepository, computeMachines: any ModelRepository<ComputeMachine>,
                calls: AgentCallBroker, timeout: Duration = .seconds(10)) {
        self.virtualMachines = virtualMachines
        self.computeMachines = computeMachines
        self.calls = calls
        self.timeout = timeout
    }

    /// The last `lines` (1...1000) lines of the instance's console log. 409 when the instance has no VM on a
    /// host yet (or any more), when its host is not reachable (naming the host's status), or when the agent
    /// has no log for it; 503 when the agent does not answer within `timeout`.
    public func tail(of instance: Instance, lines: Int) async throws -> ConsoleLogOutput {
        guard instance.status != .deleted, let vmId = instance.virtualMachineId, let machineId = instance.computeMachineId,
              let vm = try await virtualMachines.find(vmId), let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:))
        else {
            throw DomainError.conflict("The instance has no virtual machine on a host (status \(instance.status.rawValue)), so it has no console log.")
        }
        guard let machine = try await computeMachines.find(machineId) else {
            throw DomainError.conflict("The instance's compute machine no longer exists.")
        }
        guard machine.status != .offline else {
            throw DomainError.conflict("The instance's compute machine is \(machine.status.rawValue): its agent cannot be reached for the console log.")
        }
        let answer = try await calls.ask(
            .consoleLog, payload: try JSONValue(encoding: ConsoleLogCall(vmUuid: uuid, vmName: vm.vmName, lines: lines)),
            computeMachineId: machineId, timeout: timeout)
        guard answer.outcome == .succeeded, let body = answer.answer else {
            throw DomainError.conflict("The host has no console log for this instance: \(answer.error ?? "no answer")")
        }
        return try body.decode(as: ConsoleLogOutput.self)
    }
}
