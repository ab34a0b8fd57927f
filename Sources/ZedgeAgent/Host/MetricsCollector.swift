#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import ZedgeCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Takes the readings an agent sends with each heartbeat (DESIGN §4) from /proc, /sys and statvfs.
///
/// Every reading is optional: a file that is missing or malformed gives nil for that reading, never a crash.
/// The parsers are pure static functions, tested with fixture text; the roots are injectable so tests can
/// point the collector at a fixture tree.
public final class MetricsCollector: Sendable {
    public let procRoot: String
    public let sysRoot: String
    public let diskPath: String
    /// The previous /proc/stat sample: CPU usage is the busy share between two samples.
    private let previousCPU: Mutex<CPUSample?>

    public init(procRoot: String = "/proc", sysRoot: String = "/sys", diskPath: String = "/") {
        self.procRoot = procRoot
        self.sysRoot = sysRoot
        self.diskPath = diskPath
        self.previousCPU = Mutex(nil)
    }

    /// Takes every reading. On the first call (no previous CPU sample) it samples /proc/stat twice,
    /// `primeInterval` apart, so that CPU usage is not nil; later calls compare with the previous call.
    public func collect(primeInterval: Duration = .milliseconds(200)) async -> HostMetrics {
        if previousCPU.withLock({ $0 == nil }), let first = readCPUSample() {
            previousCPU.withLock { if $0 == nil { $0 = first } }
            try? await Task.sleep(for: primeInterval)
        }
        return sample()
    }

    /// Takes every reading without waiting; CPU usage is nil on the very first call.
    public func sample() -> HostMetrics {
        HostMetrics(
            cpuUsagePercent: cpuUsagePercent(),
            memoryUsagePercent: HostFiles.readFile(procRoot + "/meminfo").flatMap(Self.parseMemoryUsagePercent),
            diskUsagePercent: Self.diskUsagePercent(path: diskPath),
            temperature: temperature(),
            uptimeSeconds: HostFiles.readFile(procRoot + "/uptime").flatMap(Self.parseUptimeSeconds),
            loadAverage1m: HostFiles.readFile(procRoot + "/loadavg").flatMap(Self.parseLoadAverage1m))
    }

    /// CPU busy percent since the previous call (nil on the first call or when /proc/stat is unreadable).
    public func cpuUsagePercent() -> Double? {
        guard let current = readCPUSample() else { return nil }
        let previous = previousCPU.withLock { previous in
            defer { previous = current }
            return previous
        }
        guard let previous else { return nil }
        return Self.cpuUsagePercent(previous: previous, current: current)
    }

    /// The highest thermal-zone temperature in °C, nil when the host has no (readable) thermal zone.
    public func temperature() -> Double? {
        let base = sysRoot + "/class/thermal"
        let zones = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        let readings = zones.filter { $0.hasPrefix("thermal_zone") }.compactMap { zone in
            HostFiles.readFile("\(base)/\(zone)/temp").flatMap(Self.parseThermalCelsius)
        }
        return readings.max()
    }

    private func readCPUSample() -> CPUSample? {
        HostFiles.readFile(procRoot + "/stat").flatMap(Self.parseCPUSample)
    }

    // MARK: - Pure parsers

    /// Cumulative jiffies from the aggregate `cpu` line of /proc/stat.
    public struct CPUSample: Sendable, Hashable {
        /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is already in user).
        public var total: UInt64
        /// idle + iowait.
        public var idle: UInt64

        public init(total: UInt64, idle: UInt64) {
            self.total = total
            self.idle = idle
        }
    }

    /// Parses the `cpu  user nice system idle [iowait irq softirq steal …]` line of /proc/stat.
    public static func parseCPUSample(_ stat: String) -> CPUSample? {
        guard let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst()
        var values: [UInt64] = []
        for field in fields.prefix(8) {
            guard let value = UInt64(field) else { return nil }
            values.append(value)
        }
        guard values.count >= 4 else { return nil }
        var total: UInt64 = 0
        for value in values {
            let (sum, overflow) = total.addingReportingOverflow(value)
            guard !overflow else { return nil }
            total = sum
        }
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        return CPUSample(total: total, idle: idle)
    }

    /// The busy share, 0–100, between two samples; nil when no time passed or the counters went backwards.
    public static func cpuUsagePercent(previous: CPUSample, current: CPUSample) -> Double? {
        guard current.total > previous.total, current.idle >= previous.idle else { return nil }
        let total = Double(current.total - previous.total)
        let idle = Double(current.idle - previous.idle)
        return clampPercent((total - idle) / total * 100)
    }

    /// The `Key: value [kB]` lines of /proc/meminfo, in kB (or the bare number for count lines).
    public static func parseMeminfo(_ text: String) -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmed()
            let rest = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
            guard !key.isEmpty, let first = rest.first, let value = UInt64(first) else { continue }
            result[key] = value
        }
        return result
    }

    /// Used memory percent: (MemTotal − MemAvailable) / MemTotal. Kernels older than 3.14 have no MemAvailable;
    /// then MemFree + Buffers + Cached stands in.
    public static func parseMemoryUsagePercent(_ meminfo: String) -> Double? {
        let values = parseMeminfo(meminfo)
        guard let total = values["MemTotal"], total > 0 else { return nil }
        let available: UInt64
        if let value = values["MemAvailable"] {
            available = value
        } else if let free = values["MemFree"] {
            available = free + (values["Buffers"] ?? 0) + (values["Cached"] ?? 0)
        } else {
            return nil
        }
        let used = Double(total) - Double(min(available, total))
        return clampPercent(used / Double(total) * 100)
    }

    /// One thermal_zone*/temp file: millidegrees Celsius → °C. Readings outside −50…200 °C (disabled or broken
    /// sensors report e.g. −273200 or 0x7fffffff) are ignored.
    public static func parseThermalCelsius(_ text: String) -> Double? {
        guard let millidegrees = Int(text.trimmed()) else { return nil }
        let celsius = Double(millidegrees) / 1000
        guard celsius > -50, celsius < 200 else { return nil }
        return celsius
    }

    /// /proc/uptime `12345.67 23456.78` → 12345.
    public static func parseUptimeSeconds(_ text: String) -> Int? {
        guard let first = text.split(whereSeparator: \.isWhitespace).first, let seconds = Double(first),
            seconds.isFinite, seconds >= 0, seconds < Double(Int.max)
        else { return nil }
        return Int(seconds)
    }

    /// /proc/loadavg `0.52 0.58 0.59 1/123 4567` → 0.52.
    public static func parseLoadAverage1m(_ text: String) -> Double? {
        guard let first = text.split(whereSeparator: \.isWhitespace).first, let load = Double(first),
            load.isFinite, load >= 0
        else { return nil }
        return load
    }

    /// Used share of a file system as `df` reports it: used / (used + available to unprivileged users).
    public static func diskUsagePercent(blocks: UInt64, free: UInt64, available: UInt64) -> Double? {
        guard blocks > 0, free <= blocks else { return nil }
        let used = Double(blocks - free)
        let denominator = used + Double(available)
        guard denominator > 0 else { return nil }
        return clampPercent(used / denominator * 100)
    }

    /// statvfs of `path`, then `diskUsagePercent(blocks:free:available:)`.
    public static func diskUsagePercent(path: String) -> Double? {
        guard let stats = HostFiles.statfs(path) else { return nil }
        return diskUsagePercent(blocks: stats.blocks, free: stats.free, available: stats.available)
    }

    static func clampPercent(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        return min(100, max(0, value))
    }
}

/// Small file-system helpers shared by the host collectors.
enum HostFiles {
    /// Reads a whole (small) file as UTF-8. Reads until EOF, because /proc and /sys files report size 0.
    static func readFile(_ path: String, limit: Int = 4 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count < limit {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A trimmed, non-empty first line of a file (sysfs attributes), or nil. NUL bytes (device tree) are dropped.
    static func readValue(_ path: String) -> String? {
        guard let text = readFile(path, limit: 64 * 1024) else { return nil }
        let value = text.replacing("\0", with: "").split(separator: "\n").first
            .map { $0.trimmed() }
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func list(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    struct FileSystemStats {
        var blocks: UInt64
        var free: UInt64
        var available: UInt64
        var fragmentSize: UInt64
    }

    static func statfs(_ path: String) -> FileSystemStats? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return FileSystemStats(
            blocks: UInt64(stats.f_blocks), free: UInt64(stats.f_bfree), available: UInt64(stats.f_bavail),
            fragmentSize: UInt64(stats.f_frsize))
    }
}
