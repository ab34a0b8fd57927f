import Foundation
import ZedgeCore

/// The domain an instance's VM is on its host (the `VmSpec` of `vm.create`, DESIGN §4, §10): size, root disk,
/// cloud-init seed, console and GPUs, from the instance, its VM row and its resolved config.
///
/// With an image, the root disk is a qcow2 overlay volume in the agent's `VmSpec.diskPool` backed by the
/// cached image (`rootImage`), `storageGb` large. Without one it is the legacy file path under
/// `diskDirectory`, which nothing creates (templates without `baseImageId` boot nothing).
///
/// NICs: none until the networks issue (#10) gives instances ports on their subnets; joining libvirt's
/// `default` network failed on every libvirtd not set up for it.
public struct VmSpecBuilder: Sendable {
    /// Where agents keep root disks of instances without an image.
    public var diskDirectory: String

    public init(diskDirectory: String) {
        self.diskDirectory = diskDirectory
    }

    /// 409 when the VM has no domain UUID.
    public func spec(for vm: VirtualMachine, instance: Instance, machine: ComputeMachine, config: ResolvedInstanceConfig) throws -> VmSpec {
        guard let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else { throw DomainError.conflict("The VM has no domain UUID.") }
        let port = vm.config?.objectValue?["consolePort"]?.intValue
        let rootDisk: DiskSpec
        let rootImage: RootImageSpec?
        if let image = config.image {
            rootDisk = DiskSpec(source: .volume(pool: VmSpec.diskPool, name: VmSpec.rootVolumeName(vmName: vm.vmName)), target: "vda",
                                format: .qcow2)
            rootImage = RootImageSpec(image: image, sizeGb: config.resources.storageGb)
        } else {
            rootDisk = DiskSpec(source: .file(path: "\(diskDirectory)/\(vm.vmName)-root.qcow2"), target: "vda")
            rootImage = nil
        }
        return VmSpec(
            name: vm.vmName, uuid: uuid, vcpus: vm.cpuCores, memoryMiB: vm.memoryGb * 1024, rootDisk: rootDisk, nics: [],
            graphics: GraphicsSpec(kind: config.console, listen: machine.managementIp, port: port),
            gpus: (vm.config?.objectValue?["gpuPciAddresses"]?.arrayValue ?? []).compactMap(\.stringValue).map(GpuSpec.init(pciAddress:)),
            rootImage: rootImage, cloudInit: seed(for: instance, vm: vm, config: config))
    }

    /// The NoCloud seed: the instance's id and name, its template's user-data with its parameters filled in,
    /// and the template's network config (JSON, which is YAML) or DHCP on the first NIC.
    func seed(for instance: Instance, vm: VirtualMachine, config: ResolvedInstanceConfig) -> CloudInitSeed {
        let networkConfig: String = if let document = config.networkConfig, !document.isNull,
            let data = try? ZedgeJSON.encoder().encode(document)
        {
            String(decoding: data, as: UTF8.self) + "\n"
        } else {
            CloudInitSeed.dhcpOnFirstNic(mac: vm.macAddress)
        }
        return CloudInitSeed(
            instanceId: instance.id.uuidString.lowercased(),
            localHostname: CloudInitSeed.hostname(fromInstanceName: instance.name, fallback: "i-" + String(instance.id.uuidString.lowercased().prefix(8))),
            userData: config.userData.map { UserDataTemplate.render($0, parameters: config.parameters) },
            networkConfig: networkConfig)
    }

    /// The `vm.create` payload for the VM.
    public func createPayload(for vm: VirtualMachine, instance: Instance, machine: ComputeMachine, config: ResolvedInstanceConfig,
                              start: Bool) throws -> JSONValue {
        try JSONValue(encoding: VmCreatePayload(spec: try spec(for: vm, instance: instance, machine: machine, config: config), start: start))
    }
}
