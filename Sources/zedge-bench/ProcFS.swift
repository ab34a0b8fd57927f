#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One reading of a process from /proc: CPU time used so far and resident memory.
struct ProcessSample: Sendable {
    var at: ContinuousClock.Instant
    /// utime + stime, seconds.
    var cpuSeconds: Double
    /// VmRSS, KiB.
    var residentKiB: Int
    /// VmHWM (the peak of VmRSS so far), KiB.
    var peakResidentKiB: Int
    /// RssAnon, KiB: the resident part of VmRSS that is the process's own heap and stacks, without mapped files
    /// (the binary and its libraries, SQLite's memory-mapped database).
    var anonymousKiB: Int
    /// From /proc/<pid>/io: bytes passed to write(2)/pwrite(2) and read(2)/pread(2) so far (`wchar`, `rchar`,
    /// sockets included), and the calls (`syscw`, `syscr`). Zero where the file cannot be read (another user's
    /// process without privilege).
    var io = IOCounts()

    struct IOCounts: Sendable {
        var bytesWritten = 0
        var bytesRead = 0
        var writeCalls = 0
        var readCalls = 0
    }
}

/// Reads /proc (Linux): a process's CPU and memory, and the loopback connections to a port.
enum ProcFS {
    static let clockTicks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// `pid` 0 means this process.
    static func sample(_ pid: pid_t) throws -> ProcessSample {
        let base = pid == 0 ? "/proc/self" : "/proc/\(pid)"
        let now = ContinuousClock.now
        let stat = try read("\(base)/stat")
        // The command name (field 2) may hold spaces; fields after it are plain. After ")": state is
        // field 3, utime field 14, stime field 15.
        guard let close = stat.lastIndex(of: ")") else { throw ProcFSError("unreadable \(base)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else {
            throw ProcFSError("unreadable \(base)/stat")
        }
        let status = try read("\(base)/status")
        func kibibytes(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return 0 }
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
        }
        return ProcessSample(
            at: now, cpuSeconds: (utime + stime) / clockTicks,
            residentKiB: kibibytes("VmRSS"), peakResidentKiB: kibibytes("VmHWM"), anonymousKiB: kibibytes("RssAnon"),
            io: ioCounts(base))
    }

    /// `<base>/io` (Documentation/filesystems/proc.rst, "/proc/<pid>/io"); zeros when it cannot be read.
    static func ioCounts(_ base: String) -> ProcessSample.IOCounts {
        guard let text = try? read("\(base)/io") else { return .init() }
        var counts: [Substring: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, let value = Int(parts[1].trimmingCharacters(in: .whitespaces)) { counts[parts[0]] = value }
        }
        return .init(bytesWritten: counts["wchar"] ?? 0, bytesRead: counts["rchar"] ?? 0,
                     writeCalls: counts["syscw"] ?? 0, readCalls: counts["syscr"] ?? 0)
    }

    /// CPU time all processes used (busy: everything but idle and iowait), seconds, from /proc/stat.
    static func machineBusySeconds() throws -> Double {
        let text = try read("/proc/stat")
        guard let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { throw ProcFSError("unreadable /proc/stat") }
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 5 else { throw ProcFSError("unreadable /proc/stat") }
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let busy = ticks.prefix(8).enumerated().filter { $0.offset != 3 && $0.offset != 4 }.map(\.element).reduce(0, +)
        return busy / clockTicks
    }

    /// A /proc file, whole: they report size 0, so read until end of file.
    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ProcFSError("cannot open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// ESTABLISHED TCP connections whose remote end is `port` (the client sides of connections to a local
    /// server), from /proc/net/tcp and tcp6.
    static func establishedConnections(toPort port: Int) -> Int {
        let hex = String(port, radix: 16, uppercase: true)
        let hexPort = String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        var count = 0
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? read(file) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ", omittingEmptySubsequences: true)
                guard columns.count > 3, columns[3] == "01", columns[2].hasSuffix(":" + hexPort) else { continue }
                count += 1
            }
        }
        return count
    }
}

struct ProcFSError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
