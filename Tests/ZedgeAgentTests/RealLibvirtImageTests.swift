import CLibvirt
import Foundation
import Logging
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// Overlays, seeds and console logs on a real libvirtd with QEMU (TCG: `type='qemu'`, see
/// ../shared/recipes/test-guest-image.md). `make test` runs these as root with `scripts/with-libvirtd.sh`
/// (ZEDGE_TEST_LIBVIRT_URI) and names the cached test guest image in ZEDGE_TEST_GUEST_IMAGE.
///
/// The state dir is fixed (`/var/lib/zedge-agent-test`), not a temporary one: libvirtd keeps the
/// agent's directory pool (`AgentLayout.diskPoolName`) defined across runs, and it should not point at a folder a
/// test deleted.
@Suite("Real libvirtd: overlays, seeds, console logs", .serialized)
struct RealLibvirtImageTests {
    static let uri = ProcessInfo.processInfo.environment["ZEDGE_TEST_LIBVIRT_URI"]
    static let guestImage = ProcessInfo.processInfo.environment["ZEDGE_TEST_GUEST_IMAGE"]
    static let stateDir = "/var/lib/zedge-agent-test"
    static let logger = Logger(label: "zedge.test.real-images")

    static func tag() -> String { UUID().uuidString.prefix(8).lowercased() }

    /// Runs `body` on the libvirt connection's queue.
    static func perform<T: Sendable>(_ connection: LibvirtConnection, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await connection.perform(body)
    }

    static func removePool(_ connection: LibvirtConnection, _ name: String) async {
        _ = try? await perform(connection) { conn in
            guard let pool = virStoragePoolLookupByName(conn, name) else { virResetLastError(); return }
            defer { virStoragePoolFree(pool) }
            virStoragePoolDestroy(pool)
            virStoragePoolDelete(pool, 0)  // its (empty) folder
            virStoragePoolUndefine(pool)
            virResetLastError()
        }
    }

    /// The backing file named in a qcow2 header (offset 8: backing_file_offset, 16: backing_file_size).
    static func qcow2BackingFile(_ path: String) throws -> String? {
        let data = try #require(FileManager.default.contents(atPath: path))
        let bytes = [UInt8](data.prefix(1 << 16))
        #expect(bytes.prefix(4) == [0x51, 0x46, 0x49, 0xFB], "not a qcow2 file: \(path)")
        func be(_ at: Int, _ n: Int) -> Int { bytes[at..<at + n].reduce(0) { $0 << 8 | Int($1) } }
        let offset = be(8, 8), size = be(16, 4)
        guard offset > 0, offset + size <= bytes.count else { return nil }
        return String(decoding: bytes[offset..<offset + size], as: UTF8.self)
    }

    /// The guest-visible size in a qcow2 header (offset 24, 8 bytes big-endian).
    static func qcow2VirtualSize(_ path: String) throws -> Int64 {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        let header = [UInt8](handle.readData(ofLength: 32))
        return Int64(header[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    /// Paths the process `pid` holds open.
    static func openFiles(_ pid: Int32) -> [String] {
        let dir = "/proc/\(pid)/fd"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)")
        }
    }

    /// The pids of processes whose command name is `name` (as pgrep -x).
    static func pids(named name: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry),
                  let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8) else { return nil }
            return comm.trimmingCharacters(in: .whitespacesAndNewlines) == name ? pid : nil
        }
    }

    @Test  // needs a real libvirtd (ZEDGE_TEST_LIBVIRT_URI, which make test sets); fails without one, never skips
    func aRealQcow2OverlayOnARealBaseRunsInARealDomain() async throws {
        let connection = LibvirtConnection(uri: try #require(Self.uri))
        let storage = LibvirtStorage(connection: connection)
        let layout = AgentLayout(stateDirectory: Self.stateDir)
        try layout.prepare()
        let tag = Self.tag()
        let basePool = "zedge-test-bases-\(tag)"
        do {
            try await overlayScenario(connection: connection, storage: storage, layout: layout, tag: tag, basePool: basePool)
        } catch {
            await Self.removePool(connection, basePool)
            throw error
        }
        await Self.removePool(connection, basePool)
    }

    func overlayScenario(connection: LibvirtConnection, storage: LibvirtStorage, layout: AgentLayout, tag: String,
                         basePool: String) async throws {
        try await storage.ensureDirectoryPool(name: basePool, path: "\(Self.stateDir)/bases-\(tag)")
        let diskDir = try await storage.ensureDirectoryPool(name: layout.diskPoolName, path: layout.disksDirectory)

        // The base, made with libvirt's storage API too: a 64 MiB qcow2.
        let base = try await storage.ensureVolume(pool: basePool, name: "base.qcow2", format: .qcow2, capacityBytes: 64 << 20)
        let name = "zt-overlay-\(tag)"
        let volume = VmSpec.rootVolumeName(vmName: name)
        let overlay = try await storage.ensureOverlay(pool: layout.diskPoolName, name: volume, backingPath: base.path,
                                                     backingFormat: .qcow2, capacityBytes: 1 << 30)
        #expect(overlay.created)
        #expect(overlay.path == "\(diskDir)/\(volume)")
        #expect(!(try await storage.ensureOverlay(pool: layout.diskPoolName, name: volume, backingPath: base.path,
                                                  backingFormat: .qcow2, capacityBytes: 1 << 30)).created)
        // A real qcow2 overlay: the header names the base, the guest sees 1 GiB.
        #expect(try Self.qcow2BackingFile(overlay.path) == base.path)
        #expect(try Self.qcow2VirtualSize(overlay.path) == 1 << 30)
        let xml = try #require(try await storage.volumeXML(pool: layout.diskPoolName, name: volume))
        #expect(LibvirtStorage.backingPath(inVolumeXML: xml) == base.path)
        #expect(try await storage.backingPaths(pool: layout.diskPoolName).contains(base.path))

        // A TCG domain on it, with its serial console logged through virtlogd.
        let hypervisor = LibvirtHypervisor(connection: connection, domainType: "qemu", cpuMode: .hypervisorDefault, layout: layout,
                                           pollInterval: .milliseconds(200))
        let spec = VmSpec(name: name, uuid: UUID(), vcpus: 1, memoryMiB: 64,
                          rootDisk: DiskSpec(source: .volume(pool: layout.diskPoolName, name: volume), target: "vda", format: .qcow2))
        do {
            #expect(try await hypervisor.define(spec).state == .shutOff)
            #expect(try await hypervisor.start(uuid: spec.uuid).state == .running)
            let log = layout.consoleLogPath(spec.uuid)
            #expect(FileManager.default.fileExists(atPath: log))
            // virtlogd holds the log (and rotates it at its max_size); QEMU writes to virtlogd, not to the file.
            #expect(Self.pids(named: "virtlogd").contains { Self.openFiles($0).contains(log) })
            let qemu = Self.pids(named: "qemu-system-x86").filter { pid in
                ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains(name)
            }
            #expect(qemu.count == 1)
            #expect(qemu.allSatisfy { !Self.openFiles($0).contains(log) })
            try await hypervisor.delete(uuid: spec.uuid)
        } catch {
            try? await hypervisor.delete(uuid: spec.uuid)
            throw error
        }
        try await storage.deleteVolume(pool: layout.diskPoolName, name: volume)
        #expect(!FileManager.default.fileExists(atPath: overlay.path))
        try await storage.deleteVolume(pool: basePool, name: "base.qcow2")
        unlink(layout.consoleLogPath(spec.uuid))
    }

    /// The whole agent path on a real libvirtd: the guest image is fetched over HTTPS into the cache, a qcow2
    /// overlay made on it, a seed built, a TCG domain started; the guest prints its instance id from the seed
    /// on the serial console, which the console-log call reads. Then a second VM from the cached image.
    @Test  // needs a real libvirtd (ZEDGE_TEST_LIBVIRT_URI, which make test sets); fails without one, never skips
    func aGuestBootsFromItsOverlayAndSeed() async throws {
        guard let guestImage = Self.guestImage else {
            let message = "ZEDGE_TEST_GUEST_IMAGE is not set: the real-libvirt run needs the test guest image "
                + "(make test builds it; or ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh))"
            Issue.record("\(message)")
            return
        }
        let server = try ImageTestServer()
        defer { server.stop() }
        let image = try TestImageFile(existing: guestImage, format: .qcow2, virtualSizeBytes: try Self.qcow2VirtualSize(guestImage))
        try server.serve(image.ref.versionId, .init(path: image.path))

        let connection = LibvirtConnection(uri: try #require(Self.uri))
        let layout = AgentLayout(stateDirectory: Self.stateDir)
        try layout.prepare()
        unlink("\(layout.imagesDirectory)/\(image.ref.sha256)")  // start uncached (no domain uses it between runs)
        let hypervisor = LibvirtHypervisor(connection: connection, domainType: "qemu", cpuMode: .hypervisorDefault, layout: layout,
                                           pollInterval: .milliseconds(200))
        let storage = LibvirtStorage(connection: connection)
        let images = ImageCache(directory: layout.imagesDirectory, capacityBytes: 1 << 30,
                                downloader: ImageDownloader(client: server.client()),
                                usage: { try await ComputeResources.imagesInUse(hypervisor: hypervisor, storage: storage, pool: layout.diskPoolName) },
                                logger: Self.logger)
        let compute = ComputeResources(layout: layout, images: images, storage: storage)
        let executor = TaskExecutor(hypervisor: hypervisor, compute: compute)

        var timings: [String] = []
        for round in ["uncached", "cached"] {
            let tag = Self.tag()
            let name = "zt-boot-\(tag)"
            let instanceId = "i-\(tag)"
            let spec = imageVmSpec(name: name, image: image.ref, sizeGb: 1,
                                   seed: CloudInitSeed(instanceId: instanceId, localHostname: name))
            let started = ContinuousClock.now
            let created = await executor.execute(.vmCreate, payload: try JSONValue(encoding: VmCreatePayload(spec: spec, start: true)))
            do {
                #expect(created.outcome == .succeeded, "\(created.error ?? "")")
                #expect(try created.observed?.decode(as: ObservedVm.self).state == .running)
                let defined = ContinuousClock.now - started
                // The console log, through the call the coordinator makes for GET …/console-log.
                var line: String?
                let deadline = ContinuousClock.now + .seconds(180)
                while line == nil, ContinuousClock.now < deadline {
                    let call = AgentCall(id: UUID(), kind: .consoleLog,
                                         payload: try JSONValue(encoding: ConsoleLogCall(vmUuid: spec.uuid, vmName: name, lines: 100)),
                                         expiresAt: Date().addingTimeInterval(30))
                    let answer = await executor.answer(call)
                    #expect(answer.outcome == .succeeded, "\(answer.error ?? "")")
                    // The guest may be mid-line: wait for the whole marker (the tail includes an unfinished line).
                    line = try answer.answer?.decode(as: ConsoleLogOutput.self).lines
                        .first { $0.contains("ZEDGE-GUEST instance-id=\(instanceId) hostname=\(name) ") }
                    if line == nil { try await Task.sleep(for: .milliseconds(250)) }
                }
                let booted = ContinuousClock.now - started
                let text = try #require(line, "no ZEDGE-GUEST line within 180 s; log: \((try? String(contentsOfFile: layout.consoleLogPath(spec.uuid), encoding: .utf8))?.suffix(2000) ?? "none")")
                #expect(text.contains("ZEDGE-GUEST instance-id=\(instanceId) hostname=\(name)"), "\(text)")
                if round == "uncached" { try await Self.checkRotation(connection: connection, executor: executor, spec: spec, layout: layout) }
                timings.append("\(round): create→running \(String(format: "%.1f", defined.seconds)) s, create→ZEDGE-GUEST \(String(format: "%.1f", booted.seconds)) s")
                #expect(try Self.qcow2BackingFile(
                    try #require(try await storage.volumeXML(pool: layout.diskPoolName, name: VmSpec.rootVolumeName(vmName: name)))
                        .components(separatedBy: "<path>").dropFirst().first?.components(separatedBy: "</path>").first ?? "")
                    == images.path(of: image.ref.sha256))
            } catch {
                _ = await executor.execute(.vmDelete, payload: try JSONValue(encoding: VmRefPayload(vmUuid: spec.uuid, vmName: name)))
                throw error
            }
            let deleted = await executor.execute(.vmDelete, payload: try JSONValue(encoding: VmRefPayload(vmUuid: spec.uuid, vmName: name)))
            #expect(deleted.outcome == .succeeded, "\(deleted.error ?? "")")
            #expect(try await storage.volumeXML(pool: layout.diskPoolName, name: VmSpec.rootVolumeName(vmName: name)) == nil)
            #expect(!FileManager.default.fileExists(atPath: layout.seedPath(spec.uuid)))
            #expect(!FileManager.default.fileExists(atPath: layout.consoleLogPath(spec.uuid)))
            #expect(FileManager.default.fileExists(atPath: images.path(of: image.ref.sha256)))  // stays until evicted
        }
        #expect(server.requests(for: image.ref.versionId).count == 1)  // the second VM used the cached image
        print("test guest on \(Self.uri ?? "") (TCG): " + timings.joined(separator: "; "))
    }

    /// The console log stays bounded: the guest's shell (on ttyS0) is told, through the serial pty, to print
    /// 2.5 MB; virtlogd rotates the log at its max_size (2 MiB by default) into `<log>.0`, and the console-log
    /// call still reads the newest lines.
    static func checkRotation(connection: LibvirtConnection, executor: TaskExecutor, spec: VmSpec, layout: AgentLayout) async throws {
        let xml = try await ComputeResourcesTests.domainXML(connection, spec.uuid)
        let pty = try #require(xml.components(separatedBy: "<source path='").dropFirst().first?.components(separatedBy: "'").first)
        let fd = open(pty, O_WRONLY | O_NOCTTY)
        try #require(fd >= 0, "cannot open the serial pty \(pty)")
        try await Task.sleep(for: .seconds(2))  // QEMU notices the pty's other end within a second
        for text in ["\r", "yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789 | head -c 2500000; echo ZEDGE-$((6*7))-ROTATED\r"] {
            _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            try await Task.sleep(for: .milliseconds(500))
        }
        close(fd)  // Output then goes to the log only (nobody reads the pty).
        let log = layout.consoleLogPath(spec.uuid)
        var last: String?
        let deadline = ContinuousClock.now + .seconds(240)
        while last?.contains("ZEDGE-42-ROTATED") != true, ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(1))
            let call = AgentCall(id: UUID(), kind: .consoleLog,
                                 payload: try JSONValue(encoding: ConsoleLogCall(vmUuid: spec.uuid, vmName: spec.name, lines: 3)),
                                 expiresAt: Date().addingTimeInterval(30))
            last = try await executor.answer(call).answer?.decode(as: ConsoleLogOutput.self).lines.joined(separator: "\n")
        }
        #expect(last?.contains("ZEDGE-42-ROTATED") == true, "the guest's output did not arrive: \(last ?? "nothing")")
        let rotated = ConsoleLog.size(log + ".0")
        #expect(rotated != nil && rotated! <= 2 << 20, "no rotation by virtlogd: \(log).0 has \(rotated.map(String.init) ?? "no file")")
        #expect((ConsoleLog.size(log) ?? 0) <= 2 << 20)
    }
}
