#if canImport(Glibc)
import Glibc
#endif
import ZedgeCore

/// What a server process (and the harness itself) used over one phase: CPU as a percentage of one core,
/// and the server's memory at the phase's end.
struct PhaseUsage: Sendable {
    var seconds: Double
    var serverCPUPercent: Double
    var harnessCPUPercent: Double
    /// Everything else on the machine (other builds and tests disturb the figures).
    var otherCPUPercent: Double
    var serverResidentMiB: Double
    var serverPeakResidentMiB: Double
    /// RssAnon: resident memory without mapped files.
    var serverAnonymousMiB: Double
    /// What the server's read and write calls moved over the phase (`/proc/<pid>/io`): counts the machine's noise
    /// does not move.
    var serverIO = ProcessSample.IOCounts()

    /// Reads the server and the harness at the start of a phase; `finish()` reads them again.
    struct Meter: Sendable {
        let pid: pid_t
        let server: ProcessSample
        let harness: ProcessSample
        let machineBusy: Double

        init(pid: pid_t) throws {
            self.pid = pid
            server = try ProcFS.sample(pid)
            harness = try ProcFS.sample(0)
            machineBusy = try ProcFS.machineBusySeconds()
        }

        func finish() throws -> PhaseUsage {
            let server = try ProcFS.sample(pid)
            let harness = try ProcFS.sample(0)
            let machineBusy = try ProcFS.machineBusySeconds()
            let elapsed = server.at - self.server.at
            let seconds = elapsed.seconds
            func percent(_ a: ProcessSample, _ b: ProcessSample) -> Double {
                seconds > 0 ? (b.cpuSeconds - a.cpuSeconds) / seconds * 100 : 0
            }
            let serverPercent = percent(self.server, server), harnessPercent = percent(self.harness, harness)
            let machinePercent = seconds > 0 ? (machineBusy - self.machineBusy) / seconds * 100 : 0
            return PhaseUsage(
                seconds: seconds, serverCPUPercent: serverPercent, harnessCPUPercent: harnessPercent,
                otherCPUPercent: max(0, machinePercent - serverPercent - harnessPercent),
                serverResidentMiB: Double(server.residentKiB) / 1024, serverPeakResidentMiB: Double(server.peakResidentKiB) / 1024,
                serverAnonymousMiB: Double(server.anonymousKiB) / 1024,
                serverIO: .init(bytesWritten: server.io.bytesWritten - self.server.io.bytesWritten,
                                bytesRead: server.io.bytesRead - self.server.io.bytesRead,
                                writeCalls: server.io.writeCalls - self.server.io.writeCalls,
                                readCalls: server.io.readCalls - self.server.io.readCalls))
        }
    }
}
