import Foundation

/// A tenant's machine on a VLAN, for tests (../shared/recipes/tenant-networks-on-these-machines.md): a network
/// namespace with a veth pair whose host end is an access port of the Open vSwitch bridge with tag N, and whose
/// namespace end has an address. It can move to another tag and change its address, ping, and fetch a page over
/// HTTP; `delete()` removes the port, the veth and the namespace.
///
/// Needs root and Open vSwitch (`scripts/with-ovs.sh`, which exports the `OVS_RUNDIR` ovs-vsctl needs and
/// ZEDGE_TEST_OVS_BRIDGE). Names are unique and short (Linux interface names have at most 15 characters):
/// namespace `zv<8 hex>`, veth ends `zv<8 hex>h` (on the bridge) and `zv<8 hex>g` (in the namespace).
final class VlanNamespace: Sendable {
    /// The namespace's name (also the stem of its veth names).
    let name: String
    let bridge: String
    /// The veth end on the bridge (the OVS port).
    var hostEnd: String { name + "h" }
    /// The veth end inside the namespace.
    var guestEnd: String { name + "g" }

    private init(name: String, bridge: String) {
        self.name = name
        self.bridge = bridge
    }

    /// The bridge `scripts/with-ovs.sh` made (ZEDGE_TEST_OVS_BRIDGE), else br-zedge.
    static var defaultBridge: String { ProcessInfo.processInfo.environment["ZEDGE_TEST_OVS_BRIDGE"] ?? "br-zedge" }

    /// A namespace on `bridge` as an access port of VLAN `tag`, with `address` ("10.20.0.1/24") on its veth.
    /// A failure part-way removes what was made.
    static func create(tag: Int, address: String, bridge: String = defaultBridge) async throws -> VlanNamespace {
        let ns = VlanNamespace(name: "zv" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased(),
                               bridge: bridge)
        do {
            try await ProcessRunner.systemChecked("ip", ["netns", "add", ns.name])
            try await ProcessRunner.systemChecked("ip", ["link", "add", ns.hostEnd, "type", "veth", "peer", "name", ns.guestEnd])
            try await ProcessRunner.systemChecked("ip", ["link", "set", ns.guestEnd, "netns", ns.name])
            try await ProcessRunner.systemChecked("ip", ["link", "set", ns.hostEnd, "up"])
            try await ProcessRunner.systemChecked("ovs-vsctl", ["--timeout=10", "add-port", bridge, ns.hostEnd, "tag=\(tag)"])
            try await ProcessRunner.systemChecked("ip", ["-n", ns.name, "addr", "add", address, "dev", ns.guestEnd])
            try await ProcessRunner.systemChecked("ip", ["-n", ns.name, "link", "set", ns.guestEnd, "up"])
            try await ProcessRunner.systemChecked("ip", ["-n", ns.name, "link", "set", "lo", "up"])
        } catch {
            await ns.delete()
            throw error
        }
        return ns
    }

    /// The port's VLAN tag as Open vSwitch has it.
    func tag() async throws -> Int? {
        Int(try await ProcessRunner.systemChecked("ovs-vsctl", ["--timeout=10", "get", "Port", hostEnd, "tag"])
            .trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Moves the port to VLAN `tag` (`ovs-vsctl set port X tag=M`).
    func move(toTag tag: Int) async throws {
        try await ProcessRunner.systemChecked("ovs-vsctl", ["--timeout=10", "set", "Port", hostEnd, "tag=\(tag)"])
    }

    /// Replaces the veth's addresses with `address` ("10.30.0.1/24") and forgets the neighbours it had learnt.
    func setAddress(_ address: String) async throws {
        try await ProcessRunner.systemChecked("ip", ["-n", name, "addr", "flush", "dev", guestEnd])
        try await ProcessRunner.systemChecked("ip", ["-n", name, "addr", "add", address, "dev", guestEnd])
        try await ProcessRunner.systemChecked("ip", ["-n", name, "neigh", "flush", "all"])
    }

    /// Whether `address` answers at least one of `count` pings within `timeout` seconds in all.
    func ping(_ address: String, count: Int = 3, timeout: Int = 5) async -> Bool {
        let result = try? await ProcessRunner.system(
            "ip", ["netns", "exec", name, "ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-w", "\(timeout)", address])
        return result?.status == 0
    }

    /// The body of `http://address/` (port 80), or nil when it cannot be fetched within `timeout` seconds.
    func httpGet(_ address: String, timeout: Int = 5) async -> String? {
        guard let result = try? await ProcessRunner.system(
            "ip", ["netns", "exec", name, "wget", "-q", "-O-", "-T", "\(timeout)", "-t", "1", "http://\(address)/"]),
            result.status == 0 else { return nil }
        return result.stdout
    }

    /// Removes the OVS port, the veth pair (both ends go together) and the namespace; what is already gone is
    /// skipped.
    func delete() async {
        _ = try? await ProcessRunner.system("ovs-vsctl", ["--timeout=10", "--if-exists", "del-port", bridge, hostEnd])
        _ = try? await ProcessRunner.system("ip", ["link", "del", hostEnd])
        _ = try? await ProcessRunner.system("ip", ["netns", "del", name])
    }
}
