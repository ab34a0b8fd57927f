#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZedgeCore

/// Builds a VM's cloud-init NoCloud seed: `meta-data`, `user-data` and (when given) `network-config` in an
/// ISO 9660 image labelled `cidata`, made by xorriso (`-as genisoimage -V cidata -J -r`, Debian's `xorriso`
/// package, a dependency of the agent). The image is written under a temporary name in the seeds folder and
/// renamed into place (`<seeds>/<vm uuid>.iso`) only when complete, so a crash never leaves half a seed.
public struct CloudInitSeedBuilder: Sendable {
    public let layout: AgentLayout
    /// The xorriso executable; nil looks it up on PATH at each build.
    public let xorriso: String?

    public init(layout: AgentLayout, xorriso: String? = nil) {
        self.layout = layout
        self.xorriso = xorriso
    }

    /// Writes the seed of VM `vm` and returns its path. Rebuilt on every call (the same seed gives the same
    /// files; a running VM keeps the image it opened). Throws `AgentError` (xorriso missing or failing).
    public func build(_ seed: CloudInitSeed, vm: UUID) async throws -> String {
        guard let xorriso = xorriso ?? ChildProcess.find("xorriso") else {
            throw AgentError("xorriso is not installed (Debian package xorriso); it builds the cloud-init seed")
        }
        let final = layout.seedPath(vm)
        let seeds = layout.seedsDirectory
        let tag = "\(vm.uuidString.lowercased())-\(UUID().uuidString.prefix(8).lowercased())"
        let work = "\(seeds)/.build-\(tag)"
        let temporary = "\(seeds)/.\(tag).iso"
        let fm = FileManager.default
        try fm.createDirectory(atPath: seeds, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        try fm.createDirectory(atPath: work, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer {
            try? fm.removeItem(atPath: work)
            try? fm.removeItem(atPath: temporary)
        }
        var files = [("meta-data", seed.metaData), ("user-data", seed.userDataDocument)]
        if let network = seed.networkConfig { files.append(("network-config", network)) }
        for (name, text) in files {
            guard fm.createFile(atPath: "\(work)/\(name)", contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
                throw AgentError("cannot write \(work)/\(name)")
            }
        }
        do {
            try await ChildProcess.run(xorriso, ["-as", "genisoimage", "-quiet", "-output", temporary, "-V", "cidata", "-J", "-r"]
                + files.map { "\(work)/\($0.0)" })
        } catch {
            throw AgentError("building the cloud-init seed failed: \(error)")
        }
        try Self.syncAndRename(temporary, to: final)
        return final
    }

    /// fsync the file, rename it over `final`, fsync the folder.
    static func syncAndRename(_ path: String, to final: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AgentError("cannot open \(path): errno \(errno)") }
        _ = fchmod(fd, 0o644)
        _ = fsync(fd)
        close(fd)
        guard rename(path, final) == 0 else { throw AgentError("cannot rename \(path) to \(final): errno \(errno)") }
        let dir = open(URL(fileURLWithPath: final).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }

    /// Deletes VM `vm`'s seed; absent is success.
    public func remove(vm: UUID) {
        unlink(layout.seedPath(vm))
    }
}
