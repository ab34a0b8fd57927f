import Foundation
import Testing
import ZedgeCore

@testable import ZedgeAgent

/// A temporary /proc + /sys + /dev tree for the collectors.
private final class FixtureTree {
    let root: URL
    var proc: String { root.appendingPathComponent("proc").path }
    var sys: String { root.appendingPathComponent("sys").path }
    var dev: String { root.appendingPathComponent("dev").path }

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("zedge-host-\(UUID().uuidString)", isDirectory: true)
        for dir in ["proc", "sys", "dev"] {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func write(_ relativePath: String, _ text: String) throws {
        let url = root.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
}

private let meminfo = """
    MemTotal:       16000000 kB
    MemFree:         2000000 kB
    MemAvailable:    4000000 kB
    Buffers:          500000 kB
    Cached:          1500000 kB
    HugePages_Total:       0

    """

private let route = """
    Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
    wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
    eno1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
    eno1\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
    docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0

    """

@Suite("Host metrics parsers")
struct MetricsParserTests {
    @Test func cpuPercentFromTwoStatSamples() throws {
        let first = try #require(MetricsCollector.parseCPUSample("""
            cpu  100 0 100 700 100 0 0 0 0 0
            cpu0 50 0 50 350 50 0 0 0 0 0
            intr 12345
            """))
        #expect(first == .init(total: 1000, idle: 800))
        let second = try #require(MetricsCollector.parseCPUSample("""
            cpu  250 0 150 1300 200 0 0 100 40 0
            cpu0 1 2 3 4 5 6 7 8 9 10
            """))
        #expect(second == .init(total: 2000, idle: 1500))
        // 1000 jiffies passed, 700 of them idle/iowait → 30 % busy.
        let percent = try #require(MetricsCollector.cpuUsagePercent(previous: first, current: second))
        #expect(abs(percent - 30) < 1e-9)
        // No time passed, or counters went backwards: no reading.
        #expect(MetricsCollector.cpuUsagePercent(previous: first, current: first) == nil)
        #expect(MetricsCollector.cpuUsagePercent(previous: second, current: first) == nil)
        // Old kernels with only four fields still parse.
        #expect(MetricsCollector.parseCPUSample("cpu 1 2 3 4\n") == .init(total: 10, idle: 4))
    }

    @Test(arguments: ["", "cpu\n", "cpu  1 2 x 4 5\n", "cpu0 1 2 3 4\n", "cpu 1 2 3\n", "garbage\n\n",
                      "cpu 18446744073709551615 18446744073709551615 1 1\n", "cpu -1 2 3 4\n"])
    func malformedStatIsNil(_ text: String) {
        #expect(MetricsCollector.parseCPUSample(text) == nil)
    }

    @Test func memoryPercent() throws {
        let percent = try #require(MetricsCollector.parseMemoryUsagePercent(meminfo))
        #expect(abs(percent - 75) < 1e-9)
        // Without MemAvailable: MemFree + Buffers + Cached = 4 000 000 → 75 % again.
        let old = meminfo.split(separator: "\n").filter { !$0.contains("MemAvailable") }.joined(separator: "\n")
        #expect(MetricsCollector.parseMemoryUsagePercent(old).map { abs($0 - 75) < 1e-9 } == true)
        #expect(MetricsCollector.parseMeminfo(meminfo)["HugePages_Total"] == 0)
    }

    @Test(arguments: ["", "MemTotal: lots kB\nMemAvailable: 1 kB", "MemAvailable: 10 kB\n", "MemTotal: 0 kB\nMemAvailable: 0 kB",
                      "MemTotal: 100 kB\n", ":::\n\u{0}\u{0}"])
    func malformedMeminfoIsNil(_ text: String) {
        #expect(MetricsCollector.parseMemoryUsagePercent(text) == nil)
    }

    @Test func thermalUptimeLoadAndDisk() {
        #expect(MetricsCollector.parseThermalCelsius("45500\n") == 45.5)
        #expect(MetricsCollector.parseThermalCelsius("-273200") == nil)
        #expect(MetricsCollector.parseThermalCelsius("hot") == nil)
        #expect(MetricsCollector.parseThermalCelsius("") == nil)
        #expect(MetricsCollector.parseUptimeSeconds("12345.67 23456.78\n") == 12345)
        #expect(MetricsCollector.parseUptimeSeconds("nan 1") == nil)
        #expect(MetricsCollector.parseUptimeSeconds("") == nil)
        #expect(MetricsCollector.parseLoadAverage1m("0.52 0.58 0.59 1/123 4567\n") == 0.52)
        #expect(MetricsCollector.parseLoadAverage1m("x y z") == nil)
        // df: used 60 of (60 used + 20 available) = 75 % (the 20 reserved blocks are not available).
        #expect(MetricsCollector.diskUsagePercent(blocks: 100, free: 40, available: 20) == 75)
        #expect(MetricsCollector.diskUsagePercent(blocks: 0, free: 0, available: 0) == nil)
        #expect(MetricsCollector.diskUsagePercent(blocks: 10, free: 20, available: 0) == nil)
        #expect(MetricsCollector.diskUsagePercent(path: "/no/such/path-\(UUID().uuidString)") == nil)
    }
}

@Suite("Host collectors on fixture trees")
struct HostFixtureTests {
    @Test func metricsFromFixtureTree() async throws {
        let tree = try FixtureTree()
        try tree.write("proc/stat", "cpu  100 0 100 700 100 0 0 0 0 0\n")
        try tree.write("proc/meminfo", meminfo)
        try tree.write("proc/uptime", "3600.25 7000.00\n")
        try tree.write("proc/loadavg", "1.25 0.75 0.50 2/300 999\n")
        try tree.write("sys/class/thermal/thermal_zone0/temp", "41000\n")
        try tree.write("sys/class/thermal/thermal_zone1/temp", "67250\n")
        try tree.write("sys/class/thermal/thermal_zone2/temp", "garbage\n")
        try tree.write("sys/class/thermal/cooling_device0/temp", "99000\n")  // not a thermal zone

        let collector = MetricsCollector(procRoot: tree.proc, sysRoot: tree.sys, diskPath: tree.root.path)
        let first = collector.sample()
        #expect(first.cpuUsagePercent == nil)  // one sample only
        #expect(first.memoryUsagePercent.map { abs($0 - 75) < 1e-9 } == true)
        #expect(first.temperature == 67.25)
        #expect(first.uptimeSeconds == 3600)
        #expect(first.loadAverage1m == 1.25)
        #expect(first.diskUsagePercent.map { (0...100).contains($0) } == true)

        try tree.write("proc/stat", "cpu  250 0 150 1300 200 0 0 100 40 0\n")
        let second = await collector.collect(primeInterval: .zero)
        #expect(second.cpuUsagePercent.map { abs($0 - 30) < 1e-9 } == true)
    }

    @Test func malformedOrMissingFilesGiveNil() async throws {
        let tree = try FixtureTree()
        try tree.write("proc/stat", "nonsense\n")
        try tree.write("proc/meminfo", "MemTotal: many\n")
        try tree.write("proc/uptime", "\n")
        try tree.write("proc/loadavg", "-\n")
        try tree.write("sys/class/thermal/thermal_zone0/temp", "\u{0}\u{1}\n")
        let collector = MetricsCollector(
            procRoot: tree.proc, sysRoot: tree.sys, diskPath: tree.root.appendingPathComponent("missing").path)
        let metrics = await collector.collect(primeInterval: .milliseconds(1))
        #expect(metrics == HostMetrics())

        let empty = MetricsCollector(procRoot: tree.root.appendingPathComponent("nope").path, sysRoot: "/nonexistent")
        #expect(empty.sample().temperature == nil)
        #expect(empty.sample().cpuUsagePercent == nil)
    }

    @Test func defaultRouteParsing() {
        #expect(HostFactsCollector.parseDefaultRouteInterface(route) == "eno1")  // lowest metric wins
        let down = route.replacingOccurrences(of: "eno1\t00000000\t010200C0\t0003", with: "eno1\t00000000\t010200C0\t0002")
        #expect(HostFactsCollector.parseDefaultRouteInterface(down) == "wlan0")  // not RTF_UP
        #expect(HostFactsCollector.parseDefaultRouteInterface("Iface\tDestination\n") == nil)
        #expect(HostFactsCollector.parseDefaultRouteInterface("") == nil)
        #expect(HostFactsCollector.parseDefaultRouteInterface("header\neth0 00000000 zz\n") == nil)
    }

    @Test func managementInterfaceFromRouteAndInterfaceFiles() throws {
        let tree = try FixtureTree()
        try tree.write("proc/net/route", route)
        try tree.write("sys/class/net/eno1/address", "3C:EC:EF:01:02:03\n")
        try tree.write("sys/class/net/wlan0/address", "aa:bb:cc:dd:ee:ff\n")
        try tree.write("sys/class/net/lo/address", "00:00:00:00:00:00\n")
        let addresses: [HostFactsCollector.InterfaceAddress] = [
            .init(interface: "lo", address: "127.0.0.1", isLoopback: true),
            .init(interface: "docker0", address: "172.17.0.1"),
            .init(interface: "wlan0", address: "192.168.1.20"),
            .init(interface: "eno1", address: "fe80::1", isIPv6: true),
            .init(interface: "eno1", address: "192.0.2.10"),
        ]
        let collector = HostFactsCollector(
            procRoot: tree.proc, sysRoot: tree.sys, devRoot: tree.dev, storagePath: tree.root.path,
            pciIdsPaths: [], interfaceAddresses: { addresses })
        let management = try #require(collector.managementAddress())
        #expect(management == .init(interface: "eno1", address: "192.0.2.10"))
        #expect(collector.macAddress(interface: "eno1") == "3c:ec:ef:01:02:03")
        #expect(collector.macAddress(interface: "lo") == nil)
        #expect(collector.macAddress(interface: "../../etc") == nil)

        let facts = collector.collect()
        #expect(facts.managementIp == "192.0.2.10")
        #expect(facts.macAddress == "3c:ec:ef:01:02:03")

        // Without a default route: first non-loopback IPv4; with only IPv6: a global one.
        #expect(HostFactsCollector.selectManagementAddress(defaultInterface: nil, addresses: addresses)?.address == "172.17.0.1")
        #expect(HostFactsCollector.selectManagementAddress(defaultInterface: "eth9", addresses: addresses)?.address == "172.17.0.1")
        let v6: [HostFactsCollector.InterfaceAddress] = [
            .init(interface: "lo", address: "::1", isIPv6: true, isLoopback: true),
            .init(interface: "eth0", address: "fe80::2", isIPv6: true),
            .init(interface: "eth0", address: "2001:db8::5", isIPv6: true),
        ]
        #expect(HostFactsCollector.selectManagementAddress(defaultInterface: "eth0", addresses: v6)?.address == "2001:db8::5")
        #expect(HostFactsCollector.selectManagementAddress(defaultInterface: nil, addresses: []) == nil)
    }

    @Test func factsFromFixtureTree() throws {
        let tree = try FixtureTree()
        try tree.write("proc/meminfo", meminfo)  // 16 000 000 kB ≈ 15.26 GiB → 15
        try tree.write("sys/class/dmi/id/product_serial", "To Be Filled By O.E.M.\n")
        try tree.write("sys/firmware/devicetree/base/serial-number", "10000000abcdef01\u{0}")
        try tree.write("sys/class/dmi/id/sys_vendor", "Supermicro\n")
        try tree.write("sys/class/dmi/id/product_name", "SYS-4029GP-TRT\n")
        try tree.write("sys/class/dmi/id/bios_version", "3.4\n")
        // An ASPEED BMC VGA, an NVIDIA A100 (3D controller), an AMD GPU and a NIC.
        for (address, cls, vendor, device) in [
            ("0000:02:00.0", "0x030000", "0x1a03", "0x2000"),
            ("0000:3b:00.0", "0x030200", "0x10de", "0x20b0"),
            ("0000:5e:00.0", "0x030000", "0x1002", "0x73bf"),
            ("0000:af:00.0", "0x020000", "0x8086", "0x1572"),
        ] {
            try tree.write("sys/bus/pci/devices/\(address)/class", cls + "\n")
            try tree.write("sys/bus/pci/devices/\(address)/vendor", vendor + "\n")
            try tree.write("sys/bus/pci/devices/\(address)/device", device + "\n")
        }
        try tree.write("dev/kvm", "")
        let collector = HostFactsCollector(
            procRoot: tree.proc, sysRoot: tree.sys, devRoot: tree.dev, storagePath: tree.root.path,
            pciIdsPaths: [], interfaceAddresses: { [] })

        var facts = collector.collect()
        #expect(facts.memoryGb == 15)
        #expect(facts.serialNumber == "10000000abcdef01")  // DMI placeholder → device-tree serial
        #expect(facts.manufacturer == "Supermicro")
        #expect(facts.model == "SYS-4029GP-TRT")
        #expect(facts.firmwareVersion == "3.4")
        #expect(facts.gpuCount == 2)
        #expect(facts.gpuModel == "10de:20b0")
        #expect(facts.hypervisorType == .kvm)
        #expect(facts.managementIp == "127.0.0.1")  // no address at all
        #expect(facts.macAddress == nil)

        // A driver-provided name beats the ids; a pci.ids database names the device otherwise.
        try tree.write("proc/driver/nvidia/gpus/0000:3b:00.0/information", """
            Model: \t\t NVIDIA A100-SXM4-40GB
            IRQ:   62
            """)
        #expect(collector.collect().gpuModel == "NVIDIA A100-SXM4-40GB")
        try FileManager.default.removeItem(atPath: tree.proc + "/driver")
        try tree.write("pci.ids", """
            # comment
            1002  Advanced Micro Devices, Inc. [AMD/ATI]
            \t73bf  Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]
            10de  NVIDIA Corporation
            \t1eb8  TU104GL [Tesla T4]
            \t20b0  GA100 [A100 SXM4 40GB]
            \t\t10de 134f  A100-SXM4-40GB
            10df  Emulex Corporation
            """)
        let named = HostFactsCollector(
            procRoot: tree.proc, sysRoot: tree.sys, devRoot: tree.dev, storagePath: tree.root.path,
            pciIdsPaths: [tree.root.appendingPathComponent("pci.ids").path], interfaceAddresses: { [] })
        #expect(named.collect().gpuModel == "NVIDIA Corporation GA100 [A100 SXM4 40GB]")

        try FileManager.default.removeItem(atPath: tree.dev + "/kvm")
        try FileManager.default.removeItem(atPath: tree.sys + "/firmware")
        facts = collector.collect()
        #expect(facts.hypervisorType == nil)
        #expect(facts.serialNumber == nil)
    }

    @Test func gpuAndIdentifierParsers() {
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "0x030000", vendor: "0x10de", device: "0x2204")?.ids == "10de:2204")
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "0x030200\n", vendor: "0x1002\n", device: "0x740f\n") != nil)
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "0x030000", vendor: "0x8086", device: "0x9a49") != nil)
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "0x030000", vendor: "0x1a03", device: "0x2000") == nil)
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "0x038000", vendor: "0x10de", device: "0x2204") == nil)
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "0x030000", vendor: "nvidia", device: "0x2204") == nil)
        #expect(HostFactsCollector.parseGPU(address: "a", pciClass: "", vendor: "", device: "") == nil)

        for placeholder in ["To Be Filled By O.E.M.", "Not Specified", "0", "  ", "000000000", "Default string", "\u{0}", nil] {
            #expect(HostFactsCollector.cleanIdentifier(placeholder) == nil)
        }
        #expect(HostFactsCollector.cleanIdentifier(" CZ2D1234AB \n") == "CZ2D1234AB")
        #expect(HostFactsCollector.parseNvidiaModel("IRQ: 1\nModel:\n") == nil)
        #expect(HostFactsCollector.parseNvidiaModel("garbage") == nil)
        #expect(HostFactsCollector.pciDeviceName(database: "10de  NVIDIA\n", vendor: "10de", device: "20b0") == nil)
        #expect(HostFactsCollector.memoryGb(memTotalKB: 0) == 0)
        #expect(HostFactsCollector.memoryGb(memTotalKB: 900_000) == 1)
        #expect(HostFactsCollector.memoryGb(memTotalKB: 16_300_000) == 16)
    }
}

@Suite("Host collectors on this machine")
struct HostSmokeTests {
    @Test func realHostValuesArePlausible() async throws {
        let facts = HostFactsCollector().collect()
        #expect(!facts.hostname.isEmpty)
        #expect(facts.cpuCores >= 1)
        #expect(facts.memoryGb >= 1)
        #expect(facts.storageGb >= 1)
        #expect(facts.gpuCount >= 0)
        #expect(!facts.managementIp.isEmpty)
        #expect(IPv4Address(facts.managementIp) != nil || facts.managementIp.contains(":"))

        let metrics = await MetricsCollector().collect()
        for percent in [metrics.cpuUsagePercent, metrics.memoryUsagePercent, metrics.diskUsagePercent] {
            let value = try #require(percent)
            #expect((0...100).contains(value))
        }
        #expect((metrics.uptimeSeconds ?? 0) > 0)
        #expect((metrics.loadAverage1m ?? -1) >= 0)
        if let temperature = metrics.temperature { #expect(temperature > -50 && temperature < 200) }
    }
}
