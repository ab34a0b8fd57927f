import Crypto
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

/// Where a ComputeMachine agent keeps VM files under its state dir:
///
/// ```
/// <stateDir>/images/<sha256>          verified image files (the cache); <sha256>.part while downloading
/// <stateDir>/disks/                   the agent's libvirt directory pool (`diskPoolName`): root-disk overlays
/// <stateDir>/seeds/<vm uuid>.iso      cloud-init NoCloud seeds (label cidata)
/// <stateDir>/console/<vm uuid>.log    serial console logs (written by virtlogd)
/// ```
///
/// QEMU runs as `libvirt-qemu` and must reach the overlays, their backing images and the seeds, so the state
/// dir and these folders are made traversable by others (0711); the secrets in the state dir stay 0600.
public struct AgentLayout: Sendable, Hashable {
    public let stateDirectory: String

    /// A relative `stateDirectory` is taken from the working directory and made absolute: libvirt refuses
    /// relative paths in domain XML (the seed, the console log) and in storage pools.
    public init(stateDirectory: String) {
        var dir = stateDirectory.hasPrefix("/") ? stateDirectory
            : URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        while dir.count > 1, dir.hasSuffix("/") { dir.removeLast() }
        self.stateDirectory = dir
    }

    /// The state dir an agent has when nothing else is said (`zedge-agent run --state-dir`).
    public static let defaultStateDirectory = "/var/lib/zedge-agent"

    /// The libvirt directory pool of this agent's root-disk overlays: `VmSpec.diskPool` ("zedge-disks") for the
    /// default state dir, else "zedge-disks-" and 12 hex digits of its path's SHA-256. Pool names are global to a
    /// libvirtd: two agents on one libvirtd (tests, a host moved between state dirs) must not share one, or one's
    /// overlays land in the other's folder and go when it is removed.
    public var diskPoolName: String {
        stateDirectory == Self.defaultStateDirectory
            ? VmSpec.diskPool : VmSpec.diskPool + "-" + String(Hex.lowercase(Crypto.SHA256.hash(data: Array(stateDirectory.utf8))).prefix(12))
    }

    public var imagesDirectory: String { stateDirectory + "/images" }
    public var disksDirectory: String { stateDirectory + "/disks" }
    public var seedsDirectory: String { stateDirectory + "/seeds" }
    public var consoleDirectory: String { stateDirectory + "/console" }

    /// The cloud-init seed ISO of a VM.
    public func seedPath(_ vm: UUID) -> String { "\(seedsDirectory)/\(vm.uuidString.lowercased()).iso" }
    /// The serial console log of a VM (virtlogd rotates it to `.0`, `.1`, … next to it).
    public func consoleLogPath(_ vm: UUID) -> String { "\(consoleDirectory)/\(vm.uuidString.lowercased()).log" }

    /// Creates the folders (and opens the state dir for traversal, 0711, if it was 0700). Throws `AgentError`.
    public func prepare() throws {
        let fm = FileManager.default
        for dir in [stateDirectory, imagesDirectory, seedsDirectory, consoleDirectory] {
            do {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            } catch {
                throw AgentError("cannot create \(dir): \(FileErrorText.describe(error))")
            }
        }
        for dir in [stateDirectory, imagesDirectory, seedsDirectory] {
            var st = stat()
            guard stat(dir, &st) == 0 else { throw AgentError("cannot read \(dir): errno \(errno)") }
            let mode = st.st_mode & 0o777
            if mode & 0o001 == 0, chmod(dir, mode | 0o011) != 0 {
                throw AgentError("cannot make \(dir) traversable for QEMU (chmod o+x): errno \(errno)")
            }
        }
    }
}
