import CLibvirt
import Foundation
import ZedgeTestSupport
import Logging
import Synchronization
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// Private data disks end to end on real parts: a real single-node Ceph cluster with cephx (one monitor, one
/// memstore OSD), the real libvirtd (`qemu:///system`) with its `rbd` storage backend, and a real TCG guest that
/// reports its virtio disks on the serial console (`ZEDGE-DISKS uptime=… vdb=BYTES:ro=0|1:serial=…`, see
/// scripts/build-test-guest.sh). Everything goes through the agent's own code: `TaskExecutor` with the task
/// payloads the coordinator sends, `RbdStorage`, `LibvirtHypervisor`.
///
/// Run with (as root):
///
///     scripts/with-libvirtd.sh scripts/with-ceph.sh env ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh) \
///         swift test --skip-build --filter ZedgeAgentTests.RealCephTests
///
/// `with-ceph.sh` exports ZEDGE_TEST_CEPH_MONITOR, _USER, _KEY, _POOL and _CONF, or ZEDGE_TEST_CEPH_ERROR when the
/// cluster could not start: then, as when the variables are missing, every test here FAILS naming the reason.
/// Each test makes its own libvirt secret and pool (a fresh STORAGE pool id) and removes them, its domains
/// first, at the end; `rbd` (the CLI, admin conf) is used only to check what the agent did.
@Suite("Real Ceph RBD disks on a real libvirtd", .serialized)
struct RealCephTests {
    static let environment = ProcessInfo.processInfo.environment
    static let stateDir = "/var/lib/zedge-agent-test"
    static let logger = Logger(label: "zedge.test.real-ceph")
    static let gib: Int64 = 1 << 30

    /// The throwaway cluster `with-ceph.sh` started.
    struct Ceph {
        var monitor: String
        var user: String
        var key: String
        var pool: String
        var conf: String

        /// A cluster as a task carries it, for a fresh STORAGE pool (its own libvirt secret and pool).
        func cluster(key: String?? = .none) -> RbdCluster {
            RbdCluster(storagePoolId: UUID(), monitors: [monitor], rbdPool: pool, cephUser: user,
                       cephKey: key ?? self.key)
        }
    }

    /// The cluster from the environment, or nil after recording why: a test that needs Ceph fails without it,
    /// never skips.
    static func ceph() -> Ceph? {
        if let error = environment["ZEDGE_TEST_CEPH_ERROR"] {
            Issue.record("no Ceph cluster for this run (ZEDGE_TEST_CEPH_ERROR): \(error)")
            return nil
        }
        let names = ["ZEDGE_TEST_CEPH_MONITOR", "ZEDGE_TEST_CEPH_USER", "ZEDGE_TEST_CEPH_KEY", "ZEDGE_TEST_CEPH_POOL",
                     "ZEDGE_TEST_CEPH_CONF"]
        let missing = names.filter { (environment[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            let message = "\(missing.joined(separator: ", ")) not set: the RBD tests need a real Ceph cluster; run them under "
                + "scripts/with-ceph.sh (see RealCephTests)"
            Issue.record("\(message)")
            return nil
        }
        return Ceph(monitor: environment["ZEDGE_TEST_CEPH_MONITOR"]!, user: environment["ZEDGE_TEST_CEPH_USER"]!,
                    key: environment["ZEDGE_TEST_CEPH_KEY"]!, pool: environment["ZEDGE_TEST_CEPH_POOL"]!,
                    conf: environment["ZEDGE_TEST_CEPH_CONF"]!)
    }

    static func libvirtURI() throws -> String {
        try #require(environment["ZEDGE_TEST_LIBVIRT_URI"],
                     "ZEDGE_TEST_LIBVIRT_URI is not set: run under scripts/with-libvirtd.sh (a real libvirtd with the rbd backend)")
    }

    static func tag() -> String { UUID().uuidString.prefix(8).lowercased() }

    static func seconds(_ d: Duration) -> String { String(format: "%.2f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }

    // MARK: Ceph and libvirt, to check and to clean up

    /// `rbd ARGS` as the admin (the conf of the test cluster), bounded by `timeout`; its output.
    @discardableResult
    static func rbdCLI(_ ceph: Ceph, _ args: [String]) throws -> String {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["30", "rbd", "-c", ceph.conf] + args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw AgentError("rbd \(args.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
        }
        return text
    }

    /// The image's size in bytes as Ceph reports it, or nil when there is no such image.
    static func imageSize(_ ceph: Ceph, _ image: String) throws -> Int64? {
        guard try rbdCLI(ceph, ["ls", ceph.pool]).split(separator: "\n").contains(Substring(image)) else { return nil }
        let info = try rbdCLI(ceph, ["info", "--format", "json", "\(ceph.pool)/\(image)"])
        let json = try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any]
        return (json?["size"] as? NSNumber)?.int64Value
    }

    /// Removes the cluster's libvirt pool and secret (after its domains are gone).
    static func forget(_ cluster: RbdCluster, _ connection: LibvirtConnection) async {
        let poolName = cluster.libvirtPoolName
        let uuid = cluster.secretUuid.uuidString.lowercased()
        _ = try? await connection.perform { conn in
            if let pool = virStoragePoolLookupByName(conn, poolName) {
                virStoragePoolDestroy(pool)
                virStoragePoolUndefine(pool)
                virStoragePoolFree(pool)
            }
            if let secret = virSecretLookupByUUIDString(conn, uuid) {
                virSecretUndefine(secret)
                virSecretFree(secret)
            }
            virResetLastError()
        }
    }

    /// The secret's XML, or nil when the host has no such secret.
    static func secretXML(_ uuid: UUID, _ connection: LibvirtConnection) async throws -> String? {
        try await connection.perform { conn in
            guard let secret = virSecretLookupByUUIDString(conn, uuid.uuidString.lowercased()) else { virResetLastError(); return nil }
            defer { virSecretFree(secret) }
            guard let text = virSecretGetXMLDesc(secret, 0) else { throw LibvirtError.last("secret XML") }
            defer { free(text) }
            return String(cString: text)
        }
    }

    // MARK: Secret, pool, volumes

    @Test func secretPoolAndVolumesThroughLibvirtAreIdempotent() async throws {
        guard let ceph = Self.ceph() else { return }
        let connection = LibvirtConnection(uri: try Self.libvirtURI())
        let rbd = RbdStorage(connection: connection)
        let cluster = ceph.cluster()
        let unknown = ceph.cluster(key: .some(nil))
        let images = ["pdd-test-\(Self.tag())", "pdd-outside-\(Self.tag())"]
        do {
            try await volumeScenario(ceph: ceph, rbd: rbd, connection: connection, cluster: cluster, unknown: unknown,
                                     image: images[0], outside: images[1])
        } catch {
            for image in images { _ = try? Self.rbdCLI(ceph, ["rm", "--no-progress", "\(ceph.pool)/\(image)"]) }
            await Self.forget(cluster, connection)
            await Self.forget(unknown, connection)
            throw error
        }
        await Self.forget(cluster, connection)
        await Self.forget(unknown, connection)
        #expect(try await Self.secretXML(cluster.secretUuid, connection) == nil)
    }

    func volumeScenario(ceph: Ceph, rbd: RbdStorage, connection: LibvirtConnection, cluster: RbdCluster,
                        unknown: RbdCluster, image: String, outside: String) async throws {
        var timings: [String] = []
        var started = ContinuousClock.now
        try await rbd.ensurePool(cluster)
        timings.append("secret+pool \(Self.seconds(ContinuousClock.now - started))")
        try await rbd.ensurePool(cluster)  // again: nothing to do

        // The secret: private, persistent, usage ceph with the cluster's usage name; its value cannot be read back.
        let secretXML = try #require(try await Self.secretXML(cluster.secretUuid, connection))
        #expect(secretXML.contains("ephemeral='no'") && secretXML.contains("private='yes'"), "\(secretXML)")
        #expect(secretXML.contains("<usage type='ceph'>") && secretXML.contains("<name>\(cluster.secretUsage)</name>"), "\(secretXML)")
        #expect(!secretXML.contains(ceph.key))
        let uuid = cluster.secretUuid.uuidString.lowercased()
        let readable: Bool = try await connection.perform { conn in
            guard let secret = virSecretLookupByUUIDString(conn, uuid) else { throw LibvirtError.last("no secret") }
            defer { virSecretFree(secret) }
            var size = 0
            guard let value = virSecretGetValue(secret, &size, 0) else { virResetLastError(); return false }
            free(value)
            return true
        }
        #expect(!readable, "a private secret's value must not be readable through the API")
        // The pool: active, autostarted, on the cluster's monitors, RADOS pool, user and secret.
        let poolName = cluster.libvirtPoolName
        let (active, autostart, poolXML): (Int32, Int32, String) = try await connection.perform { conn in
            guard let pool = virStoragePoolLookupByName(conn, poolName) else { throw LibvirtError.last("no pool") }
            defer { virStoragePoolFree(pool) }
            var autostart: Int32 = 0
            _ = virStoragePoolGetAutostart(pool, &autostart)
            guard let text = virStoragePoolGetXMLDesc(pool, 0) else { throw LibvirtError.last("pool XML") }
            defer { free(text) }
            return (virStoragePoolIsActive(pool), autostart, String(cString: text))
        }
        #expect(active == 1 && autostart == 1)
        #expect(RbdStorage.PoolSource(cluster) == RbdStorage.PoolSource(poolXMLText: poolXML), "\(poolXML)")

        // The STORAGE pool's monitors change (the same monitor, named otherwise): the pool is defined anew.
        var renamed = cluster
        renamed.monitors = [ceph.monitor.replacingOccurrences(of: "127.0.0.1", with: "localhost")]
        try await rbd.ensurePool(renamed)
        let renamedXML: String = try await connection.perform { conn in
            guard let pool = virStoragePoolLookupByName(conn, poolName) else { throw LibvirtError.last("no pool") }
            defer { virStoragePoolFree(pool) }
            guard virStoragePoolIsActive(pool) == 1, let text = virStoragePoolGetXMLDesc(pool, 0) else { throw LibvirtError.last("pool XML") }
            defer { free(text) }
            return String(cString: text)
        }
        #expect(renamedXML.contains("<host name='localhost'"), "\(renamedXML)")
        try await rbd.ensurePool(cluster)

        let executor = TaskExecutor(hypervisor: nil, rbd: rbd)
        func run(_ kind: TaskKind, _ payload: some Encodable) async throws -> TaskResultReport {
            await executor.execute(kind, payload: try JSONValue(encoding: payload))
        }
        func capacity(_ report: TaskResultReport) -> Int64? { report.observed?["capacityBytes"]?.intValue.map(Int64.init) }

        // disk.create: 1 GiB, twice; then grown to 2 GiB; a smaller size never shrinks it.
        started = ContinuousClock.now
        var report = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: image, sizeGb: 1))
        timings.append("volume create \(Self.seconds(ContinuousClock.now - started))")
        #expect(report.outcome == .succeeded, "\(report.error ?? "")")
        #expect(report.observed == ["image": .string(image), "capacityBytes": .number(Double(Self.gib))])
        #expect(try Self.imageSize(ceph, image) == Self.gib)
        report = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: image, sizeGb: 1))
        #expect(report.outcome == .succeeded && capacity(report) == Self.gib, "\(report.error ?? "")")
        report = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: image, sizeGb: 2))
        #expect(capacity(report) == 2 * Self.gib)
        #expect(try Self.imageSize(ceph, image) == 2 * Self.gib)
        report = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: image, sizeGb: 1))
        #expect(report.outcome == .succeeded && capacity(report) == 2 * Self.gib)

        // disk.resize of a detached image: the volume; grow only; already that large is success.
        started = ContinuousClock.now
        report = try await run(.diskResize, DiskResizePayload(cluster: cluster, image: image, sizeGb: 3))
        timings.append("volume resize \(Self.seconds(ContinuousClock.now - started))")
        #expect(report.observed == ["image": .string(image), "capacityBytes": .number(Double(3 * Self.gib)), "resizedDomains": []],
                "\(report.error ?? "")")
        #expect(try Self.imageSize(ceph, image) == 3 * Self.gib)
        report = try await run(.diskResize, DiskResizePayload(cluster: cluster, image: image, sizeGb: 2))
        #expect(report.outcome == .succeeded && capacity(report) == 3 * Self.gib)
        report = try await run(.diskResize, DiskResizePayload(cluster: cluster, image: "pdd-absent-\(Self.tag())", sizeGb: 2))
        #expect(report.outcome == .failed && (report.error ?? "").contains("no RBD image \(ceph.pool)/pdd-absent-"), "\(report.error ?? "")")

        // The same task replayed after a restart, without its key (the journal redacts it): the secret is there.
        var keyless = cluster
        keyless.cephKey = nil
        report = try await run(.diskCreate, DiskCreatePayload(cluster: keyless, image: image, sizeGb: 3))
        #expect(report.outcome == .succeeded && capacity(report) == 3 * Self.gib, "\(report.error ?? "")")

        // An image made outside libvirt is found (the pool is refreshed), and deleted.
        try Self.rbdCLI(ceph, ["create", "--no-progress", "\(ceph.pool)/\(outside)", "--size", "64M"])
        #expect(try await rbd.volume(cluster, image: outside) == RbdStorage.Volume(image: outside, capacityBytes: 64 << 20))
        report = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: outside, sizeGb: 1))
        #expect(capacity(report) == Self.gib)
        #expect(try Self.imageSize(ceph, outside) == Self.gib)

        // disk.delete, twice each.
        started = ContinuousClock.now
        for name in [image, outside] {
            for _ in 0..<2 {
                report = try await run(.diskDelete, DiskDeletePayload(cluster: cluster, image: name))
                #expect(report.outcome == .succeeded && report.observed == ["deleted": true], "\(report.error ?? "")")
            }
            #expect(try Self.imageSize(ceph, name) == nil)
            #expect(try await rbd.volume(cluster, image: name) == nil)
        }
        timings.append("volume delete ×2 \(Self.seconds(ContinuousClock.now - started))")
        // An image deleted behind libvirt's back (the pool still lists it) is gone, not an error.
        try Self.rbdCLI(ceph, ["create", "--no-progress", "\(ceph.pool)/\(outside)", "--size", "64M"])
        #expect(try await rbd.volume(cluster, image: outside) != nil)
        try Self.rbdCLI(ceph, ["rm", "--no-progress", "\(ceph.pool)/\(outside)"])
        #expect(try await rbd.volume(cluster, image: outside) == nil)
        report = try await run(.diskDelete, DiskDeletePayload(cluster: cluster, image: outside))
        #expect(report.outcome == .succeeded, "\(report.error ?? "")")

        // No key and no secret on this host: a clear failure, and no secret defined.
        report = try await run(.diskCreate, DiskCreatePayload(cluster: unknown, image: image, sizeGb: 1))
        #expect(report.outcome == .failed)
        #expect((report.error ?? "").contains("no cephx key for storage pool \(unknown.storagePoolId.uuidString.lowercased())"), "\(report.error ?? "")")
        #expect(try await Self.secretXML(unknown.secretUuid, connection) == nil)
        print("RealCephTests volumes: " + timings.joined(separator: "; "))
    }

    /// A cluster that does not answer (monitors unreachable: libvirt waits 30 s to start its pool) holds up only
    /// its own calls: another (already started) cluster's volume is made while that pool start is still waiting.
    @Test func aClusterThatDoesNotAnswerHoldsUpNoOtherCluster() async throws {
        guard let ceph = Self.ceph() else { return }
        let connection = LibvirtConnection(uri: try Self.libvirtURI())
        let rbd = RbdStorage(connection: connection)
        let good = ceph.cluster()
        let dead = RbdCluster(storagePoolId: UUID(), monitors: ["192.0.2.1:6789"], rbdPool: ceph.pool, cephUser: ceph.user,
                              cephKey: ceph.key)   // 192.0.2.0/24: TEST-NET-1 (RFC 5737), never answers
        let image = "pdd-iso-\(Self.tag())"
        // The good cluster's pool is defined and started first: libvirtd itself may hold a new pool's definition
        // while another pool starts (outside the agent's reach); what the agent decides is its own queues.
        try await rbd.ensurePool(good)
        final class Flag: Sendable { let value = Mutex(false) }
        let deadFinished = Flag()
        let stuck = Task {
            defer { deadFinished.value.withLock { $0 = true } }
            try? await rbd.ensurePool(dead)
        }
        try await Task.sleep(for: .milliseconds(500))  // its pool start is under way on its own connection
        _ = try await rbd.createVolume(good, image: image, capacityBytes: 64 << 20)
        let finished = deadFinished.value.withLock { $0 }
        #expect(!finished, "the good cluster's volume waited for the dead cluster's pool")
        #expect(try Self.imageSize(ceph, image) == 64 << 20)
        try await rbd.deleteVolume(good, image: image)
        await stuck.value
        await Self.forget(good, connection)
        await Self.forget(dead, connection)
    }

    /// A wrong key fails within libvirt's 30 s, with a message that says what to check (libvirt's own says
    /// "No such file or directory"), and never quotes the key.
    @Test func aWrongKeyFailsClearly() async throws {
        guard let ceph = Self.ceph() else { return }
        let connection = LibvirtConnection(uri: try Self.libvirtURI())
        // The right structure (cephx keys are 28 bytes), the wrong secret: flip the last byte.
        var bytes = [UInt8](try #require(Data(base64Encoded: ceph.key)))
        bytes[bytes.count - 1] ^= 0x5a
        let wrongKey = Data(bytes).base64EncodedString()
        let cluster = ceph.cluster(key: .some(wrongKey))
        let executor = TaskExecutor(hypervisor: nil, rbd: RbdStorage(connection: connection))
        let started = ContinuousClock.now
        let report = await executor.execute(.diskCreate, payload: try JSONValue(encoding: DiskCreatePayload(cluster: cluster, image: "pdd-never", sizeGb: 1)))
        let took = ContinuousClock.now - started
        await Self.forget(cluster, connection)
        #expect(report.outcome == .failed)
        let error = report.error ?? ""
        #expect(error.contains("cannot reach Ceph pool \(ceph.pool) at \(ceph.monitor) as client.\(ceph.user)"), "\(error)")
        #expect(error.contains("wrong cephx key"), "\(error)")
        #expect(!error.contains(wrongKey) && !error.contains(ceph.key))
        #expect(took < .seconds(90), "took \(took)")
        #expect(try Self.imageSize(ceph, "pdd-never") == nil)
        print("RealCephTests wrong key: failed after \(Self.seconds(took)): \(error)")
    }

    // MARK: A running guest

    /// A test guest booted through the agent's `vm.create` (image over HTTPS into the cache, overlay, seed),
    /// and what it prints about its disks.
    struct Guest {
        let executor: TaskExecutor
        let hypervisor: LibvirtHypervisor
        let layout: AgentLayout
        let spec: VmSpec

        var log: String { layout.consoleLogPath(spec.uuid) }

        /// One disk of a `ZEDGE-DISKS` line.
        struct Disk: Hashable {
            var name: String
            var bytes: Int64
            var readOnly: Bool
            var serial: String
        }

        /// Every complete `ZEDGE-DISKS` line so far, parsed.
        func disksLines() -> [[Disk]] {
            // Complete lines only (the guest may be mid-line); the console writes "\r\n", one Character in Swift.
            guard let data = FileManager.default.contents(atPath: log), let end = data.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
            let text = String(decoding: data[..<end], as: UTF8.self)
            return text.components(separatedBy: .newlines).compactMap { line -> [Disk]? in
                guard let marker = line.range(of: "ZEDGE-DISKS ") else { return nil }
                return line[marker.upperBound...].split(separator: " ").compactMap { token -> Disk? in
                    let parts = token.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":", omittingEmptySubsequences: false)
                    guard parts.count == 3, let eq = parts[0].firstIndex(of: "="), let bytes = Int64(parts[0][parts[0].index(after: eq)...])
                    else { return nil }
                    return Disk(name: String(parts[0][..<eq]), bytes: bytes, readOnly: parts[1] == "ro=1",
                                serial: String(parts[2].dropFirst("serial=".count)))
                }
            }
        }

        /// Waits for a `ZEDGE-DISKS` line after the first `after` that satisfies `predicate`; returns its disks.
        func waitForDisks(after: Int, timeout: Duration = .seconds(90), _ what: String,
                          _ predicate: ([Disk]) -> Bool) async throws -> [Disk] {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let found = disksLines().dropFirst(after).first(where: predicate) { return found }
                try await Task.sleep(for: .milliseconds(100))
            }
            let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(1500) ?? "no log"
            throw AgentError("the guest printed no ZEDGE-DISKS line with \(what) within \(timeout); log: \(tail)")
        }
    }

    /// Boots a guest (`vm.create` with `dataDisks` and `rbdClusters`), waits for its boot `ZEDGE-DISKS` line,
    /// runs `body`, and deletes it (`vm.delete`) whatever happens.
    func withGuest(_ tag: String, rbd: RbdStorage, connection: LibvirtConnection, dataDisks: [DiskSpec] = [],
                   rbdClusters: [RbdCluster] = [], _ body: (Guest, [Guest.Disk]) async throws -> Void) async throws {
        let guestImage = try #require(Self.environment["ZEDGE_TEST_GUEST_IMAGE"],
                                      "ZEDGE_TEST_GUEST_IMAGE is not set: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let server = try ImageTestServer()
        defer { server.stop() }
        let image = try TestImageFile(existing: guestImage, format: .qcow2,
                                      virtualSizeBytes: try RealLibvirtImageTests.qcow2VirtualSize(guestImage))
        try server.serve(image.ref.versionId, .init(path: image.path))
        let layout = AgentLayout(stateDirectory: Self.stateDir)
        try layout.prepare()
        let hypervisor = LibvirtHypervisor(connection: connection, domainType: "qemu", cpuMode: .hypervisorDefault, layout: layout,
                                           pollInterval: .milliseconds(100))
        let storage = LibvirtStorage(connection: connection)
        let images = ImageCache(directory: layout.imagesDirectory, capacityBytes: 1 << 30,
                                downloader: ImageDownloader(client: server.client()),
                                usage: { try await ComputeResources.imagesInUse(hypervisor: hypervisor, storage: storage, pool: layout.diskPoolName) },
                                logger: Self.logger)
        let executor = TaskExecutor(hypervisor: hypervisor, compute: ComputeResources(layout: layout, images: images, storage: storage),
                                    rbd: rbd)
        let name = "zt-ceph-\(tag)"
        let spec = imageVmSpec(name: name, image: image.ref, sizeGb: 1, dataDisks: dataDisks)
        let guest = Guest(executor: executor, hypervisor: hypervisor, layout: layout, spec: spec)
        let delete = { await executor.execute(.vmDelete, payload: try JSONValue(encoding: VmRefPayload(vmUuid: spec.uuid, vmName: name))) }
        do {
            let started = ContinuousClock.now
            let created = await executor.execute(.vmCreate, payload: try JSONValue(encoding: VmCreatePayload(spec: spec, start: true,
                                                                                                          rbdClusters: rbdClusters)))
            try #require(created.outcome == .succeeded, "vm.create failed: \(created.error ?? "")")
            let boot = try await guest.waitForDisks(after: 0, timeout: .seconds(180), "the boot disks") { _ in true }
            print("RealCephTests guest \(name): vm.create → boot ZEDGE-DISKS line \(Self.seconds(ContinuousClock.now - started))")
            try await body(guest, boot)
        } catch {
            _ = try? await delete()
            throw error
        }
        let deleted = try await delete()
        #expect(deleted.outcome == .succeeded, "\(deleted.error ?? "")")
    }

    @Test func disksAttachResizeAndDetachOnARunningGuest() async throws {
        guard let ceph = Self.ceph() else { return }
        let uri = try Self.libvirtURI()
        let connection = LibvirtConnection(uri: uri)
        let rbd = RbdStorage(connection: LibvirtConnection(uri: uri))
        let cluster = ceph.cluster()
        let tag = Self.tag()
        let rw = "pdd-rw-\(tag)", ro = "pdd-ro-\(tag)"
        do {
            try await withGuest(tag, rbd: rbd, connection: connection) { (guest: Guest, boot: [Guest.Disk]) async throws in
                try await runningGuestScenario(ceph: ceph, rbd: rbd, connection: connection, cluster: cluster, guest: guest,
                                               boot: boot, images: (rw, ro))
            }
        } catch {
            for image in [rw, ro] { try? await rbd.deleteVolume(cluster, image: image) }
            await Self.forget(cluster, connection)
            throw error
        }
        for image in [rw, ro] { try await rbd.deleteVolume(cluster, image: image) }
        await Self.forget(cluster, connection)
    }

    func runningGuestScenario(ceph: Ceph, rbd: RbdStorage, connection: LibvirtConnection, cluster: RbdCluster, guest: Guest,
                              boot: [Guest.Disk], images: (rw: String, ro: String)) async throws {
        let executor = guest.executor
        let uuid = guest.spec.uuid
        var timings: [String] = []
        func run(_ kind: TaskKind, _ payload: some Encodable) async throws -> TaskResultReport {
            let report = await executor.execute(kind, payload: try JSONValue(encoding: payload))
            #expect(report.outcome == .succeeded, "\(kind.rawValue): \(report.error ?? "")")
            return report
        }
        #expect(boot.map(\.name) == ["vda"], "\(boot)")
        var started = ContinuousClock.now
        _ = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: images.rw, sizeGb: 1))
        _ = try await run(.diskCreate, DiskCreatePayload(cluster: cluster, image: images.ro, sizeGb: 1))
        timings.append("secret+pool+2 volumes \(Self.seconds(ContinuousClock.now - started))")

        // Attach read-write: live and in the definition; the guest sees a 1 GiB disk with the serial.
        let serial = PrivateDataDisk.serial(for: UUID())
        let attach = DiskAttachPayload(cluster: cluster, image: images.rw, vmUuid: uuid, serial: serial, readOnly: false, shareable: false)
        var before = guest.disksLines().count
        started = ContinuousClock.now
        var report = try await run(.diskAttach, attach)
        timings.append("attach live \(Self.seconds(ContinuousClock.now - started))")
        #expect(report.observed == ["target": "vdb", "live": true])
        var seen = try await guest.waitForDisks(after: before, "serial=\(serial)") { $0.contains { $0.serial == serial } }
        timings.append("guest sees it \(Self.seconds(ContinuousClock.now - started))")
        #expect(seen.first { $0.serial == serial }.map { ($0.bytes, $0.readOnly) } ?? (0, true) == (Self.gib, false), "\(seen)")

        // Twice: still one disk, live and defined; the heartbeat's view has it.
        report = try await run(.diskAttach, attach)
        #expect(report.observed == ["target": "vdb", "live": true])
        let expected = ObservedDisk(rbdPool: ceph.pool, image: images.rw, target: "vdb")
        #expect(try await guest.hypervisor.state(uuid: uuid)?.disks == [expected])
        #expect(try await guest.hypervisor.list().first { $0.vmUuid == uuid.uuidString.lowercased() }?.disks == [expected])
        #expect(try await definedDisks(connection, uuid) == [expected])

        // Deleting an attached image fails, and says why.
        let refused = await executor.execute(.diskDelete, payload: try JSONValue(encoding: DiskDeletePayload(cluster: cluster, image: images.rw)))
        #expect(refused.outcome == .failed)
        #expect((refused.error ?? "").contains("is still in use") && (refused.error ?? "").contains(guest.spec.name), "\(refused.error ?? "")")
        #expect(try Self.imageSize(ceph, images.rw) == Self.gib)

        // disk.resize through the running domain: the image and the guest grow.
        before = guest.disksLines().count
        started = ContinuousClock.now
        report = try await run(.diskResize, DiskResizePayload(cluster: cluster, image: images.rw, sizeGb: 2, vmUuids: [uuid, UUID()]))
        timings.append("blockresize \(Self.seconds(ContinuousClock.now - started))")
        #expect(report.observed == ["image": .string(images.rw), "capacityBytes": .number(Double(2 * Self.gib)),
                                    "resizedDomains": [.string(uuid.uuidString.lowercased())]])
        seen = try await guest.waitForDisks(after: before, "serial=\(serial) at 2 GiB") {
            $0.contains { $0.serial == serial && $0.bytes == 2 * Self.gib }
        }
        timings.append("guest sees the new size \(Self.seconds(ContinuousClock.now - started))")
        #expect(try Self.imageSize(ceph, images.rw) == 2 * Self.gib)
        report = try await run(.diskResize, DiskResizePayload(cluster: cluster, image: images.rw, sizeGb: 1, vmUuids: [uuid]))
        #expect(report.observed?["capacityBytes"] == .number(Double(2 * Self.gib)))  // never shrunk
        #expect(try Self.imageSize(ceph, images.rw) == 2 * Self.gib)

        // Detach: gone from the guest, the domain (live and defined) and the heartbeat; twice is success.
        before = guest.disksLines().count
        started = ContinuousClock.now
        report = try await run(.diskDetach, DiskDetachPayload(cluster: cluster, image: images.rw, vmUuid: uuid))
        timings.append("detach \(Self.seconds(ContinuousClock.now - started))")
        #expect(report.observed == ["detached": true])
        seen = try await guest.waitForDisks(after: before, "no serial=\(serial)") { !$0.contains { $0.serial == serial } }
        timings.append("guest sees it gone \(Self.seconds(ContinuousClock.now - started))")
        #expect(seen.map(\.name) == ["vda"])
        #expect(try await guest.hypervisor.state(uuid: uuid)?.disks == [])
        #expect(try await definedDisks(connection, uuid) == [])
        _ = try await run(.diskDetach, DiskDetachPayload(cluster: cluster, image: images.rw, vmUuid: uuid))

        // Read-only and shareable: the guest sees ro=1.
        let roSerial = PrivateDataDisk.serial(for: UUID())
        before = guest.disksLines().count
        report = try await run(.diskAttach, DiskAttachPayload(cluster: cluster, image: images.ro, vmUuid: uuid, serial: roSerial,
                                                              readOnly: true, shareable: true))
        #expect(report.observed == ["target": "vdb", "live": true])
        seen = try await guest.waitForDisks(after: before, "serial=\(roSerial)") { $0.contains { $0.serial == roSerial } }
        #expect(seen.first { $0.serial == roSerial }?.readOnly == true, "\(seen)")
        #expect(try await guest.hypervisor.state(uuid: uuid)?.disks
                == [ObservedDisk(rbdPool: ceph.pool, image: images.ro, target: "vdb", readOnly: true, shareable: true)])
        _ = try await run(.diskDetach, DiskDetachPayload(cluster: cluster, image: images.ro, vmUuid: uuid))
        #expect(try await guest.hypervisor.state(uuid: uuid)?.disks == [])
        print("RealCephTests running guest: " + timings.joined(separator: "; "))
    }

    /// A domain with no guest OS never answers the ACPI unplug: the detach gives up after the hypervisor's
    /// timeout with a clear error (libvirt itself reports success), and a repeat does too. Also: an attach to a
    /// shut-off domain goes into its definition only and is live once it starts; an attach after the failed
    /// detach puts the disk back into the definition.
    @Test func aDetachTheGuestIgnoresFailsAfterItsTimeout() async throws {
        guard let ceph = Self.ceph() else { return }
        let uri = try Self.libvirtURI()
        let connection = LibvirtConnection(uri: uri)
        let rbd = RbdStorage(connection: LibvirtConnection(uri: uri))
        let hypervisor = LibvirtHypervisor(connection: connection, domainType: "qemu", cpuMode: .hypervisorDefault,
                                           pollInterval: .milliseconds(100), detachTimeout: .seconds(3))
        let executor = TaskExecutor(hypervisor: hypervisor, rbd: rbd)
        let cluster = ceph.cluster()
        let tag = Self.tag()
        let image = "pdd-stuck-\(tag)"
        let name = "zt-ceph-noos-\(tag)"
        let root = "/var/lib/libvirt/images/\(name).img"
        FileManager.default.createFile(atPath: root, contents: Data(count: 1 << 20))
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = VmSpec(name: name, uuid: UUID(), vcpus: 1, memoryMiB: 64,
                          rootDisk: DiskSpec(source: .file(path: root), target: "vda", format: .raw))
        var second = spec
        second.name = name + "-2"
        second.uuid = UUID()
        do {
            _ = try await hypervisor.define(spec)
            _ = try await hypervisor.define(second)
            _ = try await rbd.createVolume(cluster, image: image, capacityBytes: 64 << 20)
            let attach = DiskAttachPayload(cluster: cluster, image: image, vmUuid: spec.uuid, serial: "stuck", readOnly: false, shareable: false)
            var report = await executor.execute(.diskAttach, payload: try JSONValue(encoding: attach))
            #expect(report.observed == ["target": "vdb", "live": false], "\(report.error ?? "")")
            #expect(try await definedDisks(connection, spec.uuid).map(\.image) == [image])
            // Another domain here may not have it too: only two shareable attachments share an image.
            for shareable in [false, true] {
                var other = attach
                other.vmUuid = second.uuid
                other.shareable = shareable
                report = await executor.execute(.diskAttach, payload: try JSONValue(encoding: other))
                #expect(report.outcome == .failed)
                #expect((report.error ?? "").contains("disk \(ceph.pool)/\(image) is attached to \(name) on this host"), "\(report.error ?? "")")
            }
            #expect(try await definedDisks(connection, second.uuid) == [])
            try await hypervisor.delete(uuid: second.uuid)
            #expect(try await hypervisor.start(uuid: spec.uuid).disks == [ObservedDisk(rbdPool: ceph.pool, image: image, target: "vdb")])
            report = await executor.execute(.diskAttach, payload: try JSONValue(encoding: attach))
            #expect(report.observed == ["target": "vdb", "live": true], "\(report.error ?? "")")

            let detach = try JSONValue(encoding: DiskDetachPayload(cluster: cluster, image: image, vmUuid: spec.uuid))
            for round in 1...2 {
                let started = ContinuousClock.now
                report = await executor.execute(.diskDetach, payload: detach)
                let took = ContinuousClock.now - started
                #expect(report.outcome == .failed, "round \(round)")
                #expect((report.error ?? "").contains("disk \(ceph.pool)/\(image) is still attached to running domain \(name)"), "\(report.error ?? "")")
                #expect((report.error ?? "").contains("as vdb 3 s after the detach request"), "\(report.error ?? "")")
                #expect(took < .seconds(20), "round \(round) took \(took)")
                print("RealCephTests stuck detach, round \(round): failed after \(Self.seconds(took))")
            }
            #expect(try await definedDisks(connection, spec.uuid) == [])
            #expect(try await hypervisor.state(uuid: spec.uuid)?.disks == [ObservedDisk(rbdPool: ceph.pool, image: image, target: "vdb")])
            // Attached again: back in the definition, on the target it has live.
            report = await executor.execute(.diskAttach, payload: try JSONValue(encoding: attach))
            #expect(report.observed == ["target": "vdb", "live": true], "\(report.error ?? "")")
            #expect(try await definedDisks(connection, spec.uuid).map(\.target) == ["vdb"])
            try await hypervisor.delete(uuid: spec.uuid)
        } catch {
            try? await hypervisor.delete(uuid: spec.uuid)
            try? await hypervisor.delete(uuid: second.uuid)
            try? await rbd.deleteVolume(cluster, image: image)
            await Self.forget(cluster, connection)
            throw error
        }
        try await rbd.deleteVolume(cluster, image: image)
        await Self.forget(cluster, connection)
    }

    /// The RBD disks of the domain's persistent definition.
    func definedDisks(_ connection: LibvirtConnection, _ uuid: UUID) async throws -> [ObservedDisk] {
        try await connection.perform { conn in
            let dom = try LibvirtHypervisor.require(conn, uuid)
            defer { virDomainFree(dom) }
            return try LibvirtHypervisor.disks(dom, live: false).compactMap(\.observed)
        }
    }

    /// Evacuation to a new host: `vm.create` of a domain that has an RBD data disk, on a host without the
    /// cluster's secret. The agent defines the secret from `rbdClusters` before the domain, and the guest
    /// boots with the disk.
    @Test func aDomainWithAnRbdDiskStartsOnAHostWithoutItsSecret() async throws {
        guard let ceph = Self.ceph() else { return }
        let uri = try Self.libvirtURI()
        let connection = LibvirtConnection(uri: uri)
        let rbd = RbdStorage(connection: LibvirtConnection(uri: uri))
        let cluster = ceph.cluster()
        let tag = Self.tag()
        let image = "pdd-boot-\(tag)"
        do {
            _ = try await rbd.createVolume(cluster, image: image, capacityBytes: Self.gib)
            await Self.forget(cluster, connection)  // the image stays in Ceph; this host forgets the cluster
            #expect(try await Self.secretXML(cluster.secretUuid, connection) == nil)
            let serial = PrivateDataDisk.serial(for: UUID())
            let disk = DiskSpec(source: cluster.source(image: image), target: "vdb", serial: serial)
            try await withGuest(tag, rbd: rbd, connection: connection, dataDisks: [disk], rbdClusters: [cluster]) { (guest: Guest, boot: [Guest.Disk]) async throws in
                #expect(boot.first { $0.serial == serial }.map { ($0.bytes, $0.readOnly) } ?? (0, true) == (Self.gib, false), "\(boot)")
                #expect(try await guest.hypervisor.state(uuid: guest.spec.uuid)?.disks
                        == [ObservedDisk(rbdPool: ceph.pool, image: image, target: "vdb")])
                #expect(try await Self.secretXML(cluster.secretUuid, connection) != nil)
            }
        } catch {
            try? await rbd.deleteVolume(cluster, image: image)
            await Self.forget(cluster, connection)
            throw error
        }
        try await rbd.deleteVolume(cluster, image: image)
        await Self.forget(cluster, connection)
        #expect(try Self.imageSize(ceph, image) == nil)
    }
}
