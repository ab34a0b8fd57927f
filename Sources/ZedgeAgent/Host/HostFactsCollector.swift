#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gathers the `HostFacts` an agent sends at registration (DESIGN §4) from gethostname, sysconf, /proc, /sys,
/// statvfs and getifaddrs.
///
/// The /proc, /sys and /dev roots are injectable and so is the interface-address list, so every decision can
/// be tested against a fixture tree; the parsers are pure static functions.
public struct HostFactsCollector: Sendable {
    /// An IP address configured on an interface (what getifaddrs reports).
    public struct InterfaceAddress: Sendable, Hashable {
        public var interface: String
        public var address: String
        public var isIPv6: Bool
        public var isLoopback: Bool
        public var isUp: Bool

        public init(interface: String, address: String, isIPv6: Bool = false, isLoopback: Bool = false, isUp: Bool = true) {
            self.interface = interface
            self.address = address
            self.isIPv6 = isIPv6
            self.isLoopback = isLoopback
            self.isUp = isUp
        }
    }

    /// A display (0x0300) or 3D (0x0302) controller found on the PCI bus.
    public struct PCIGPU: Sendable, Hashable {
        public var address: String
        /// Four lowercase hex digits, e.g. `10de`.
        public var vendor: String
        public var device: String

        public init(address: String, vendor: String, device: String) {
            self.address = address
            self.vendor = vendor
            self.device = device
        }

        /// `10de:20b0`.
        public var ids: String { "\(vendor):\(device)" }
    }

    public let procRoot: String
    public let sysRoot: String
    public let devRoot: String
    /// The file system whose size is reported as `storageGb` (e.g. the VM image store).
    public let storagePath: String
    /// Where the PCI ID database may be, to name a GPU when no driver does (first readable wins).
    public let pciIdsPaths: [String]
    private let interfaceAddresses: @Sendable () -> [InterfaceAddress]

    public init(
        procRoot: String = "/proc", sysRoot: String = "/sys", devRoot: String = "/dev", storagePath: String = "/",
        pciIdsPaths: [String] = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"],
        interfaceAddresses: @escaping @Sendable () -> [InterfaceAddress] = { HostFactsCollector.systemInterfaceAddresses() }
    ) {
        self.procRoot = procRoot
        self.sysRoot = sysRoot
        self.devRoot = devRoot
        self.storagePath = storagePath
        self.pciIdsPaths = pciIdsPaths
        self.interfaceAddresses = interfaceAddresses
    }

    public func collect() -> HostFacts {
        let gpus = gpus()
        let management = managementAddress()
        let dmi = sysRoot + "/class/dmi/id"
        let deviceTree = sysRoot + "/firmware/devicetree/base"
        return HostFacts(
            hostname: Self.hostname(),
            serialNumber: Self.cleanIdentifier(HostFiles.readValue(dmi + "/product_serial"))
                ?? Self.cleanIdentifier(HostFiles.readValue(deviceTree + "/serial-number")),
            cpuCores: Self.cpuCores(),
            memoryGb: memoryGb() ?? 0,
            storageGb: storageGb() ?? 0,
            gpuCount: gpus.count,
            gpuModel: gpuModel(gpus),
            gpuPciAddresses: gpus.map(\.address),
            managementIp: management?.address ?? "127.0.0.1",
            macAddress: management.flatMap { macAddress(interface: $0.interface) },
            firmwareVersion: Self.cleanIdentifier(HostFiles.readValue(dmi + "/bios_version")),
            model: Self.cleanIdentifier(HostFiles.readValue(dmi + "/product_name"))
                ?? Self.cleanIdentifier(HostFiles.readValue(deviceTree + "/model")),
            manufacturer: Self.cleanIdentifier(HostFiles.readValue(dmi + "/sys_vendor")),
            hypervisorType: HostFiles.exists(devRoot + "/kvm") ? .kvm : nil)
    }

    // MARK: - Readings

    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    public static func cpuCores() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// MemTotal rounded to the nearest GiB (the kernel keeps a little for itself, so 16 GiB reads 15.6).
    public func memoryGb() -> Int? {
        guard let kB = HostFiles.readFile(procRoot + "/meminfo").flatMap({ MetricsCollector.parseMeminfo($0)["MemTotal"] })
        else { return nil }
        return Self.memoryGb(memTotalKB: kB)
    }

    public static func memoryGb(memTotalKB kB: UInt64) -> Int {
        guard kB > 0 else { return 0 }
        return max(1, Int((Double(kB) / 1_048_576).rounded()))
    }

    /// The size of `storagePath`'s file system in whole GiB (rounded down).
    public func storageGb() -> Int? {
        guard let stats = HostFiles.statfs(storagePath) else { return nil }
        let bytes = Double(stats.blocks) * Double(stats.fragmentSize)
        return Int(bytes / 1_073_741_824)
    }

    /// Display and 3D controllers on the PCI bus, by PCI address.
    public func gpus() -> [PCIGPU] {
        let base = sysRoot + "/bus/pci/devices"
        return HostFiles.list(base).compactMap { address in
            let dir = "\(base)/\(address)"
            guard let pciClass = HostFiles.readValue(dir + "/class"),
                let vendor = HostFiles.readValue(dir + "/vendor"),
                let device = HostFiles.readValue(dir + "/device")
            else { return nil }
            return Self.parseGPU(address: address, pciClass: pciClass, vendor: vendor, device: device)
        }
    }

    /// PCI vendors whose display controllers are not GPUs worth reporting: BMC and emulated VGA (ASPEED,
    /// Matrox G200, QEMU/Bochs stdvga, virtio-gpu, VMware SVGA, Cirrus, Hyper-V). Counting them would make every
    /// server with a BMC look like a GPU server.
    public static let nonGPUDisplayVendors: Set<String> = ["1a03", "102b", "1234", "1af4", "15ad", "1013", "1414"]

    /// A GPU from one PCI device's sysfs `class`, `vendor` and `device` files, or nil when it is not one.
    public static func parseGPU(address: String, pciClass: String, vendor: String, device: String) -> PCIGPU? {
        let pciClass = pciClass.trimmed().lowercased()
        guard pciClass.hasPrefix("0x0300") || pciClass.hasPrefix("0x0302") else { return nil }
        guard let vendor = hexID(vendor), let device = hexID(device), !nonGPUDisplayVendors.contains(vendor)
        else { return nil }
        return PCIGPU(address: address, vendor: vendor, device: device)
    }

    /// `0x10de\n` → `10de`; nil unless four hex digits.
    static func hexID(_ text: String) -> String? {
        var value = text.trimmed().lowercased()
        if value.hasPrefix("0x") { value.removeFirst(2) }
        guard value.count == 4, value.allSatisfy(\.isHexDigit) else { return nil }
        return value
    }

    /// The first GPU's name: the NVIDIA driver's model line, else the PCI ID database, else `vendor:device`.
    public func gpuModel(_ gpus: [PCIGPU]) -> String? {
        guard let first = gpus.first else { return nil }
        let nvidia = procRoot + "/driver/nvidia/gpus"
        for gpu in HostFiles.list(nvidia) {
            if let model = HostFiles.readFile("\(nvidia)/\(gpu)/information").flatMap(Self.parseNvidiaModel) {
                return model
            }
        }
        for path in pciIdsPaths {
            if let database = HostFiles.readFile(path, limit: 16 << 20) {
                if let name = Self.pciDeviceName(database: database, vendor: first.vendor, device: first.device) {
                    return name
                }
                break
            }
        }
        return first.ids
    }

    /// The `Model:` line of /proc/driver/nvidia/gpus/*/information.
    public static func parseNvidiaModel(_ information: String) -> String? {
        for line in information.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"),
                line[..<colon].trimmed() == "Model"
            else { continue }
            let model = line[line.index(after: colon)...].trimmed()
            return model.isEmpty ? nil : model
        }
        return nil
    }

    /// `NVIDIA Corporation GA100 [A100 SXM4 40GB]` from pci.ids (vendor lines at column 0, devices after a tab).
    public static func pciDeviceName(database: String, vendor: String, device: String) -> String? {
        var vendorName: String?
        for line in database.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") { continue }
            if !line.hasPrefix("\t") {
                if vendorName != nil { return nil }  // past our vendor's block
                if line.lowercased().hasPrefix(vendor + " ") {
                    vendorName = line.dropFirst(4).trimmed()
                }
            } else if let vendorName, !line.hasPrefix("\t\t") {
                let entry = line.dropFirst()
                if entry.lowercased().hasPrefix(device + " ") {
                    return vendorName + " " + entry.dropFirst(4).trimmed()
                }
            }
        }
        return nil
    }

    // MARK: - Management interface

    /// The management address: IPv4 of the default-route interface, else the first non-loopback IPv4, else the
    /// first global IPv6. Nil when the host has none of those.
    public func managementAddress() -> InterfaceAddress? {
        let route = HostFiles.readFile(procRoot + "/net/route").flatMap(Self.parseDefaultRouteInterface)
        return Self.selectManagementAddress(defaultInterface: route, addresses: interfaceAddresses())
    }

    /// The interface of the lowest-metric default route (destination and mask 00000000, flag RTF_UP) in
    /// /proc/net/route.
    public static func parseDefaultRouteInterface(_ table: String) -> String? {
        var best: (interface: String, metric: Int)?
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 8, let flags = Int(fields[3], radix: 16), let metric = Int(fields[6]) else { continue }
            guard fields[1] == "00000000", fields[7] == "00000000", flags & 0x1 != 0 else { continue }
            if best == nil || metric < best!.metric { best = (String(fields[0]), metric) }
        }
        return best?.interface
    }

    public static func selectManagementAddress(defaultInterface: String?, addresses: [InterfaceAddress]) -> InterfaceAddress? {
        let usable = addresses.filter { $0.isUp && !$0.isLoopback }
        let ipv4 = usable.filter { !$0.isIPv6 && !$0.address.hasPrefix("127.") }
        if let defaultInterface, let match = ipv4.first(where: { $0.interface == defaultInterface }) { return match }
        if let first = ipv4.first { return first }
        return usable.first { $0.isIPv6 && !$0.address.lowercased().hasPrefix("fe80") && $0.address != "::1" }
    }

    /// `/sys/class/net/<iface>/address`, lowercased; nil when missing or all zeros.
    public func macAddress(interface: String) -> String? {
        guard !interface.contains("/"), interface != "." && interface != ".." else { return nil }
        return HostFiles.readValue("\(sysRoot)/class/net/\(interface)/address").flatMap(Self.cleanMAC)
    }

    static func cleanMAC(_ text: String) -> String? {
        let mac = text.trimmed().lowercased()
        let parts = mac.split(separator: ":")
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }),
            mac != "00:00:00:00:00:00"
        else { return nil }
        return mac
    }

    /// Every address of every interface, from getifaddrs.
    public static func systemInterfaceAddresses() -> [InterfaceAddress] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(head) }
        var result: [InterfaceAddress] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let socketAddress = entry.pointee.ifa_addr, let name = entry.pointee.ifa_name else { continue }
            let family = Int32(socketAddress.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
            guard getnameinfo(socketAddress, socklen_t(length), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0
            else { continue }
            let flags = Int32(bitPattern: entry.pointee.ifa_flags)
            var address = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let percent = address.firstIndex(of: "%") { address = String(address[..<percent]) }  // fe80::1%eth0
            result.append(InterfaceAddress(
                interface: String(cString: name), address: address, isIPv6: family == AF_INET6,
                isLoopback: flags & Int32(IFF_LOOPBACK) != 0, isUp: flags & Int32(IFF_UP) != 0))
        }
        return result
    }

    // MARK: - DMI

    /// Values firmware vendors leave in unset DMI fields.
    static let placeholders: Set<String> = [
        "to be filled by o.e.m.", "to be filled by oem", "not specified", "not applicable", "default string",
        "system serial number", "system product name", "system manufacturer", "none", "n/a", "na", "unknown",
        "invalid", "oem", "o.e.m.", "0123456789", "123456789", "serial", "chassis serial number",
    ]

    /// A DMI/device-tree value, or nil when empty or a placeholder such as "To Be Filled By O.E.M.", "0" or
    /// all zeros.
    public static func cleanIdentifier(_ text: String?) -> String? {
        guard let value = text?.replacing("\0", with: "").trimmed(),
            !value.isEmpty
        else { return nil }
        if placeholders.contains(value.lowercased()) { return nil }
        if value.allSatisfy({ $0 == "0" || $0 == "-" || $0 == " " || $0 == "." }) { return nil }
        if value.allSatisfy({ $0 == "F" || $0 == "f" || $0 == "-" }) { return nil }
        return value
    }
}
