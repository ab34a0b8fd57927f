import Foundation
import ZedgeCore

/// Makes the VirtualMachine row of a placed instance: its domain UUID and name (`zedge-<uuid8>-<name>`,
/// at most 63 characters), its MAC (QEMU's locally administered 52:54:00 prefix), its console kind and its GPUs.
/// No console port: since issue #16 a VM's graphics listen on a UNIX socket that only its host's agent opens.
public struct VirtualMachineFactory: Sendable {
    public init() {}

    public func make(
        for instance: Instance, on machine: ComputeMachine, config: ResolvedInstanceConfig, gpus: [String], now: Date,
        in tx: Transaction
    ) async throws -> VirtualMachine {
        let vmUuid = UUID()
        return VirtualMachine(
            computeMachineId: machine.id, instanceId: instance.id, vmUuid: vmUuid.uuidString,
            vmName: Self.domainName(uuid: vmUuid, instanceName: instance.name),
            cpuCores: config.resources.cpuCores, memoryGb: config.resources.memoryGb, storageGb: config.resources.storageGb,
            gpuCount: config.resources.gpuCount, status: .creating, macAddress: Self.mac(for: vmUuid),
            config: ["consoleKind": .string(config.console.rawValue),
                     "consoleHost": .string(machine.managementIp), "gpuPciAddresses": .array(gpus.map { .string($0) })],
            createdAt: now, updatedAt: now)
    }

    /// `zedge-<first 8 of the uuid>-<name with other than letters, digits and '-' as '-'>`, at most 63.
    static func domainName(uuid: UUID, instanceName: String) -> String {
        let safeName = String(instanceName.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(40))
        return String("zedge-\(uuid.uuidString.prefix(8).lowercased())-\(safeName)".prefix(63))
    }

    /// 52:54:00 and the uuid's first three bytes.
    static func mac(for uuid: UUID) -> String {
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        return String(format: "52:54:00:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2])
    }
}
