import Foundation
import NIOCore
import ZedgeCore

/// The registered agents the harness speaks for, each with its credential and its heartbeat body
/// (realistic readings and a few observed VMs, encoded once).
struct SimulatedFleet: Sendable {
    struct Agent: Sendable {
        var index: Int
        var machineId: UUID
        /// `Bearer zac_…`.
        var authorization: String
        var heartbeat: ByteBuffer
    }

    var agents: [Agent]

    var count: Int { agents.count }

    /// The facts agent `index` registers with: a unique hostname, management IP and MAC.
    static func facts(_ index: Int) -> HostFacts {
        let n = index + 1
        let (a, b, c) = ((n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF)
        return HostFacts(
            hostname: String(format: "bench-agent-%05d", index), serialNumber: String(format: "BENCH%08d", index),
            cpuCores: [16, 32, 64][index % 3], memoryGb: [64, 128, 256][index % 3], storageGb: 2000,
            gpuCount: index % 10 == 0 ? 2 : 0, gpuModel: index % 10 == 0 ? "10de:20b0" : nil,
            managementIp: "10.\(a).\(b).\(c)", macAddress: String(format: "52:54:00:%02x:%02x:%02x", a, b, c),
            firmwareVersion: "1.4.2", model: "bench-1u", manufacturer: "Zedge Bench", hypervisorType: .kvm)
    }

    /// A heartbeat as a ComputeMachine's agent sends it: readings and three running VMs.
    static func heartbeatBody(_ index: Int) throws -> ByteBuffer {
        let vms = (0..<3).map { k in
            ObservedVm(vmUuid: UUID().uuidString.lowercased(), vmName: "vm-\(index)-\(k)", state: k == 2 ? .shutOff : .running)
        }
        return try AgentWire.encode(heartbeat(observedVms: vms))
    }

    /// A heartbeat with random readings (a busy machine's) reporting `observedVms`.
    static func heartbeat(observedVms: [ObservedVm]) -> HeartbeatRequest {
        var random = SystemRandomNumberGenerator()
        return HeartbeatRequest(
            metrics: HostMetrics(
                cpuUsagePercent: Double.random(in: 5...75, using: &random).rounded(toPlaces: 1),
                memoryUsagePercent: Double.random(in: 20...80, using: &random).rounded(toPlaces: 1),
                diskUsagePercent: Double.random(in: 10...70, using: &random).rounded(toPlaces: 1),
                temperature: Double.random(in: 38...72, using: &random).rounded(toPlaces: 1),
                uptimeSeconds: Int.random(in: 3600...9_000_000, using: &random),
                loadAverage1m: Double.random(in: 0.2...12, using: &random).rounded(toPlaces: 2)),
            observedVms: observedVms, agentVersion: ZedgeVersion.current)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = Foundation.pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
