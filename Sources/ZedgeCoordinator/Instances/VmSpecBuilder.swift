import Foundation
import ZedgeCore

/// The domain an instance's VM is on its host (the `VmSpec` of `vm.create`, DESIGN §4, §10): size, root disk,
/// cloud-init seed, console and GPUs, from the instance, its VM row and its resolved config.
///
/// With an image, the root disk is a qcow2 overlay volume in the agent's `VmSpec.diskPool` backed by the
/// cached image (`rootImage`), `storageGb` large. Without one it is the legacy file path under
/// `diskDirectory`, which nothing creates (templates without `baseImageId` boot nothing).
///
/// NICs: one per entry of the config's `networks`, a port on the host's Open vSwitch integration bridge (the
/// one its agent reported, else `defaultIntegrationBridge`) tagged with the subnet's VLAN, with the MAC IPAM
/// recorded; the seed's network-config gives each its static address.
public struct VmSpecBuilder: Sendable {
    /// Where agents keep root disks of instances without an image.
    public var diskDirectory: String
    /// The agent's default `--integration-bridge`.
    public static let defaultIntegrationBridge = "br-zedge"

    public init(diskDirectory: String) {
        self.diskDirectory = diskDirectory
    }

    /// 409 when the VM has no domain UUID.
    /// `dataDisks`: the instance's attached private data disks (`DiskAttachments.dataDisks`).
    public func spec(for vm: VirtualMachine, instance: Instance, machine: ComputeMachine, config: ResolvedInstanceConfig,
                     dataDisks: [DiskSpec] = []) throws -> VmSpec {
        guard let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:)) else { throw DomainError.conflict("The VM has no domain UUID.") }
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
        let bridge = machine.integrationBridge ?? Self.defaultIntegrationBridge
        let nics = (config.networks ?? []).map { nic in
            NicSpec(mac: nic.macAddress, attachment: .bridge(bridge), vlanTag: nic.vlanId, virtualPort: .openvswitch)
        }
        return VmSpec(
            name: vm.vmName, uuid: uuid, vcpus: vm.cpuCores, memoryMiB: vm.memoryGb * 1024, rootDisk: rootDisk, dataDisks: dataDisks, nics: nics,
            // On a UNIX socket on the host, with a password the agent draws: reached only through the agent's
            // console tunnel (issue #16).
            graphics: GraphicsSpec(kind: config.console),
            gpus: (vm.config?.objectValue?["gpuPciAddresses"]?.arrayValue ?? []).compactMap(\.stringValue).map(GpuSpec.init(pciAddress:)),
            rootImage: rootImage, cloudInit: seed(for: instance, vm: vm, config: config))
    }

    /// The NoCloud seed: the instance's id and name, its template's user-data with its parameters filled in,
    /// and its network config: the NICs' static addresses when it has networks, else the template's
    /// `networkConfig` when that is a cloud-init document (JSON, which is YAML), else DHCP on the first NIC.
    func seed(for instance: Instance, vm: VirtualMachine, config: ResolvedInstanceConfig) -> CloudInitSeed {
        let networkConfig: String = if let nics = config.networks, !nics.isEmpty {
            CloudInitSeed.staticNetworkConfig(nics)
        } else if let document = config.networkConfig, !document.isNull, document.objectValue?["networks"] == nil,
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

    /// The `vm.create` payload for the VM, with the instance's attached data disks and their clusters (whose
    /// keys are added only when the agent leases the task).
    public func createPayload(for vm: VirtualMachine, instance: Instance, machine: ComputeMachine, config: ResolvedInstanceConfig,
                              start: Bool, dataDisks: (disks: [DiskSpec], clusters: [RbdCluster]) = ([], [])) throws -> VmCreatePayload {
        VmCreatePayload(
            spec: try spec(for: vm, instance: instance, machine: machine, config: config, dataDisks: dataDisks.disks), start: start,
            rbdClusters: dataDisks.clusters)
    }
}
