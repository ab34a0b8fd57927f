import Foundation
import ZedgeCore

/// The domain an instance's VM is on its host (the `VmSpec` of `vm.create`, DESIGN §4): size, root disk,
/// NIC, console and GPUs, from the VM row and the instance's resolved config.
public struct VmSpecBuilder: Sendable {
    /// Where agents keep instances' root disks.
    public var diskDirectory: String
    /// The libvirt network instances' NICs join.
    public var network: String

    public init(diskDirectory: String, network: String = "default") {
        self.diskDirectory = diskDirectory
        self.network = network
    }

    /// 409 when the VM has no domain UUID.
    public func spec(for vm: VirtualMachine, machine: ComputeMachine, config: ResolvedInstanceConfig) throws -> VmSpec {
        guard let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else { throw DomainError.conflict("The VM has no domain UUID.") }
        let port = vm.config?.objectValue?["consolePort"]?.intValue
        return VmSpec(
            name: vm.vmName, uuid: uuid, vcpus: vm.cpuCores, memoryMiB: vm.memoryGb * 1024,
            rootDisk: DiskSpec(source: .file(path: "\(diskDirectory)/\(vm.vmName)-root.qcow2"), target: "vda"),
            nics: vm.macAddress.map { [NicSpec(mac: $0, attachment: .network(network))] } ?? [],
            graphics: GraphicsSpec(kind: config.console, listen: machine.managementIp, port: port),
            gpus: (vm.config?.objectValue?["gpuPciAddresses"]?.arrayValue ?? []).compactMap(\.stringValue).map(GpuSpec.init(pciAddress:)))
    }

    /// The `vm.create` payload for the VM.
    public func createPayload(for vm: VirtualMachine, machine: ComputeMachine, config: ResolvedInstanceConfig, start: Bool) throws -> JSONValue {
        try JSONValue(encoding: VmCreatePayload(spec: try spec(for: vm, machine: machine, config: config), start: start))
    }
}
