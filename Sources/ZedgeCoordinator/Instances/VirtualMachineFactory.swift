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
        // The UUID's text in lower case starts with those three bytes' hex digits (not `String(format:)`: ~7 µs of
        // CoreFoundation on the writer's thread, for each create).
        let digits = UUIDText.text(uuid).utf8.prefix(6).map { Character(UnicodeScalar($0 | 0x20)) }  // A-F → a-f
        return "52:54:00:\(digits[0])\(digits[1]):\(digits[2])\(digits[3]):\(digits[4])\(digits[5])"
    }
}
