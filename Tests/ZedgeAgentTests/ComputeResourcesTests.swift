import CLibvirt
import Foundation
import Logging
import Testing
@testable import ZedgeAgent
import ZedgeCore

/// Root-disk overlays through libvirt's storage API, seeds, console logs, and the executor's `image.fetch`,
/// `vm.create` with a root image and `vm.delete`, on libvirt's test driver (whose storage pools take volume
/// creation) with a real HTTPS image server and the real xorriso.
@Suite("Images, overlays, seeds and console logs on test:///default")
struct ComputeResourcesTests {
    static let uri = "test:///default"

    /// Everything a ComputeMachine executor needs, in `dir`, fetching from `server`.
    /// `stallTimeout`: the downloader's (60 s by default, as the agent's); a test that holds a download on purpose
    /// for longer than a loaded machine may take gives a longer one.
    static func compute(_ server: ImageTestServer, in dir: URL, connection: LibvirtConnection,
                        hypervisor: LibvirtHypervisor, stallTimeout: Duration = .seconds(60)) throws -> ComputeResources {
        let layout = AgentLayout(stateDirectory: dir.path)
        try layout.prepare()
        let storage = LibvirtStorage(connection: connection)
        let images = ImageCache(directory: layout.imagesDirectory, capacityBytes: 1 << 30,
                                downloader: ImageDownloader(client: server.client(), retryDelay: .milliseconds(50), stallTimeout: stallTimeout),
                                usage: { try await ComputeResources.imagesInUse(hypervisor: hypervisor, storage: storage, pool: layout.diskPoolName) },
                                logger: Logger(label: "zedge.test.compute"))
        return ComputeResources(layout: layout, images: images, storage: storage)
    }

    static func domainXML(_ connection: LibvirtConnection, _ uuid: UUID) async throws -> String {
        try await connection.perform { conn in
            guard let dom = virDomainLookupByUUIDString(conn, uuid.uuidString.lowercased()) else {
                throw LibvirtError.last("no domain")
            }
            defer { virDomainFree(dom) }
            guard let xml = virDomainGetXMLDesc(dom, 0) else { throw LibvirtError.last("no XML") }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    // MARK: Storage

    @Test func overlayWithABackingStoreIsCreatedOnceAndDeleted() async throws {
        let storage = LibvirtStorage(connection: LibvirtConnection(uri: Self.uri))
        let pool = "zt-pool-\(UUID().uuidString.prefix(8).lowercased())"
        let target = "/var/lib/zedge-test/\(pool)"
        #expect(try await storage.ensureDirectoryPool(name: pool, path: target) == target)
        #expect(try await storage.ensureDirectoryPool(name: pool, path: target) == target)  // idempotent
        let base = try await storage.ensureVolume(pool: pool, name: "base.qcow2", format: .qcow2, capacityBytes: 64 << 20)
        #expect(base.created)
        #expect(base.path == "\(target)/base.qcow2")

        let overlay = try await storage.ensureOverlay(pool: pool, name: "vm-root.qcow2", backingPath: base.path,
                                                     backingFormat: .qcow2, capacityBytes: 2 << 30)
        #expect(overlay.created)
        let again = try await storage.ensureOverlay(pool: pool, name: "vm-root.qcow2", backingPath: "/elsewhere",
                                                   backingFormat: .raw, capacityBytes: 1 << 30)
        #expect(!again.created)  // kept as it is: a repeated task makes no second overlay
        #expect(again.path == overlay.path)
        let xml = try #require(try await storage.volumeXML(pool: pool, name: "vm-root.qcow2"))
        #expect(LibvirtStorage.backingPath(inVolumeXML: xml) == base.path)
        #expect(xml.contains("<capacity unit='bytes'>\(2 << 30)</capacity>"))
        #expect(try await storage.backingPaths(pool: pool) == [base.path])

        try await storage.deleteVolume(pool: pool, name: "vm-root.qcow2")
        try await storage.deleteVolume(pool: pool, name: "vm-root.qcow2")  // absent: success
        #expect(try await storage.volumeXML(pool: pool, name: "vm-root.qcow2") == nil)
        try await storage.deleteVolume(pool: "zt-no-such-pool", name: "x")  // absent pool: success
        #expect(try await storage.backingPaths(pool: "zt-no-such-pool") == [])
    }

    @Test func volumeXMLIsEscaped() async throws {
        let storage = LibvirtStorage(connection: LibvirtConnection(uri: Self.uri))
        let pool = "zt-pool-\(UUID().uuidString.prefix(8).lowercased())"
        try await storage.ensureDirectoryPool(name: pool, path: "/var/lib/zedge-test/\(pool)")
        let hostile = "/img/a'b<c>&d\"e"
        _ = try await storage.ensureOverlay(pool: pool, name: "v.qcow2", backingPath: hostile, backingFormat: .raw, capacityBytes: 1 << 20)
        let xml = try #require(try await storage.volumeXML(pool: pool, name: "v.qcow2"))
        #expect(LibvirtStorage.backingPath(inVolumeXML: xml) == hostile)
    }

    // MARK: Seeds

    @Test func theSeedIsAnISOLabelledCidataWithTheThreeDocuments() async throws {
        let dir = try makeTestDirectory("seed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = AgentLayout(stateDirectory: dir.path)
        try layout.prepare()
        let vm = UUID()
        let seed = CloudInitSeed(instanceId: "i-0123abcd", localHostname: "web-1", userData: "#cloud-config\nruncmd: [echo hi]\n",
                                 networkConfig: CloudInitSeed.dhcpOnFirstNic(mac: "52:54:00:AA:BB:CC"))
        let path = try await CloudInitSeedBuilder(layout: layout).build(seed, vm: vm)
        #expect(path == layout.seedPath(vm))
        let xorriso = try #require(ChildProcess.find("xorriso"), "xorriso is a dependency of the agent (scripts/ensure-deps.sh)")
        let info = try runTransportTool(xorriso, ["-indev", path, "-pvd_info"], in: dir)
        #expect(info.contains("Volume Id    : cidata"), "\(info)")
        let out = dir.appendingPathComponent("extracted")
        try runTransportTool(xorriso, ["-osirrox", "on", "-indev", path, "-extract", "/", out.path], in: dir)
        func read(_ name: String) -> String? { try? String(contentsOf: out.appendingPathComponent(name), encoding: .utf8) }
        #expect(read("meta-data") == "instance-id: i-0123abcd\nlocal-hostname: web-1\n")
        #expect(read("user-data") == "#cloud-config\nruncmd: [echo hi]\n")
        #expect(read("network-config") == seed.networkConfig)
        // Nothing half-built is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout.seedsDirectory) == ["\(vm.uuidString.lowercased()).iso"])

        // Without user-data or network-config: an empty cloud-config, and no network-config file.
        let bare = try await CloudInitSeedBuilder(layout: layout).build(CloudInitSeed(instanceId: "i-2", localHostname: "db"), vm: vm)
        let out2 = dir.appendingPathComponent("extracted2")
        try runTransportTool(xorriso, ["-osirrox", "on", "-indev", bare, "-extract", "/", out2.path], in: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out2.path).sorted() == ["meta-data", "user-data"])
        #expect(try String(contentsOf: out2.appendingPathComponent("user-data"), encoding: .utf8) == "#cloud-config\n{}\n")
        CloudInitSeedBuilder(layout: layout).remove(vm: vm)
        #expect(!FileManager.default.fileExists(atPath: bare))
    }

    // MARK: Console logs

    @Test func consoleLogTailReadsOnlyTheEnd() throws {
        let dir = try makeTestDirectory("console")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = AgentLayout(stateDirectory: dir.path)
        try layout.prepare()
        let log = ConsoleLog(layout: layout, maximumReadBytes: 1 << 20)
        let vm = UUID()
        #expect(try log.tail(vm: vm, lines: 10) == ConsoleLogOutput(lines: [], truncated: false))  // no log yet

        // 100,000 serial lines (CRLF, as a serial console writes them), the last one unfinished.
        var text = (0..<100_000).map { "line \($0) " + String(repeating: "x", count: $0 % 40) }.joined(separator: "\r\n")
        text += "\r\nboot: ZEDGE-GUEST instance-id=i-1"
        FileManager.default.createFile(atPath: layout.consoleLogPath(vm), contents: Data(text.utf8))
        let tail = try log.tail(vm: vm, lines: 3)
        #expect(tail.lines == ["line 99998 " + String(repeating: "x", count: 99998 % 40), "line 99999 " + String(repeating: "x", count: 99999 % 40),
                               "boot: ZEDGE-GUEST instance-id=i-1"])
        #expect(tail.truncated)
        #expect(try log.tail(vm: vm, lines: 1000).lines.count == 1000)
        let read = try #require(try ConsoleLog.readTail(layout.consoleLogPath(vm), lines: 1000, maximumBytes: 1 << 20))
        #expect(read.bytesRead < 128 << 10)  // ~1000 lines of ~50 bytes: two 64 KiB chunks, not the 5 MB file

        // Few lines, invalid UTF-8, a rotated file (virtlogd's <log>.0) holding the older lines.
        FileManager.default.createFile(atPath: layout.consoleLogPath(vm) + ".0", contents: Data("old 1\nold 2\n".utf8))
        FileManager.default.createFile(atPath: layout.consoleLogPath(vm), contents: Data([0x61, 0xFF, 0x0A, 0x62, 0x0A]))
        #expect(try log.tail(vm: vm, lines: 2) == ConsoleLogOutput(lines: ["a\u{FFFD}", "b"], truncated: true))
        #expect(try log.tail(vm: vm, lines: 3) == ConsoleLogOutput(lines: ["old 2", "a\u{FFFD}", "b"], truncated: true))
        #expect(try log.tail(vm: vm, lines: 10) == ConsoleLogOutput(lines: ["old 1", "old 2", "a\u{FFFD}", "b"], truncated: false))
        log.remove(vm: vm)
        #expect(!FileManager.default.fileExists(atPath: layout.consoleLogPath(vm)))
        #expect(!FileManager.default.fileExists(atPath: layout.consoleLogPath(vm) + ".0"))
    }

    // MARK: The executor

    @Test func createFetchesMakesTheOverlayAndSeedAndIsIdempotent() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("compute-create")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 1 << 20)
        try server.serve(image.ref.versionId, .init(path: image.path))
        let connection = LibvirtConnection(uri: Self.uri)
        let layout = AgentLayout(stateDirectory: dir.path)
        let hypervisor = LibvirtHypervisor(connection: connection, layout: layout)
        let compute = try Self.compute(server, in: dir, connection: connection, hypervisor: hypervisor)
        let executor = TaskExecutor(hypervisor: hypervisor, compute: compute)
        let name = "zt-img-\(UUID().uuidString.prefix(8).lowercased())"
        let spec = imageVmSpec(name: name, image: image.ref, sizeGb: 2)
        let payload = try JSONValue(encoding: VmCreatePayload(spec: spec, start: true))

        let first = await executor.execute(.vmCreate, payload: payload)
        #expect(first.outcome == .succeeded, "\(first.error ?? "")")
        #expect(try first.observed?.decode(as: ObservedVm.self).state == .running)
        // Repeated (a redelivery after a crash at any point): one overlay, one domain.
        let again = await executor.execute(.vmCreate, payload: payload)
        #expect(again.outcome == .succeeded, "\(again.error ?? "")")
        #expect(try await hypervisor.list().filter { $0.vmName == name }.count == 1)
        #expect(server.requests(for: image.ref.versionId).count == 1)

        let cached = compute.images.path(of: image.ref.sha256)
        let volumeXML = try #require(try await compute.storage.volumeXML(pool: compute.layout.diskPoolName, name: VmSpec.rootVolumeName(vmName: name)))
        #expect(LibvirtStorage.backingPath(inVolumeXML: volumeXML) == cached)
        #expect(volumeXML.contains("<capacity unit='bytes'>\(2 << 30)</capacity>"))
        #expect(FileManager.default.fileExists(atPath: layout.seedPath(spec.uuid)))
        let xml = try await Self.domainXML(connection, spec.uuid)
        #expect(xml.contains(layout.seedPath(spec.uuid)))
        #expect(xml.contains(layout.consoleLogPath(spec.uuid)))
        #expect(xml.contains(image.ref.sha256))
        #expect(try await ComputeResources.imagesInUse(hypervisor: hypervisor, storage: compute.storage, pool: compute.layout.diskPoolName).contains(image.ref.sha256))
        #expect(await compute.images.evictIfNeeded(incomingBytes: 1 << 40) == [])  // in use: kept

        // The console log answers through a call (empty: the test driver runs no QEMU).
        FileManager.default.createFile(atPath: layout.consoleLogPath(spec.uuid), contents: Data("ZEDGE-GUEST instance-id=i-1\n".utf8))
        let call = AgentCall(id: UUID(), kind: .consoleLog,
                             payload: try JSONValue(encoding: ConsoleLogCall(vmUuid: spec.uuid, vmName: name, lines: 5)),
                             expiresAt: Date().addingTimeInterval(30))
        let answer = await executor.answer(call)
        #expect(answer.outcome == .succeeded)
        #expect(try answer.answer?.decode(as: ConsoleLogOutput.self) == ConsoleLogOutput(lines: ["ZEDGE-GUEST instance-id=i-1"], truncated: false))
        var tooMany = call
        tooMany.payload = try JSONValue(encoding: ConsoleLogCall(vmUuid: spec.uuid, vmName: name, lines: 1001))
        #expect(await executor.answer(tooMany).error?.contains("lines must be from 1 to 1000") == true)

        // Delete: domain, overlay, seed and console log go; the cached base stays until evicted.
        let deleted = await executor.execute(.vmDelete, payload: try JSONValue(encoding: VmRefPayload(vmUuid: spec.uuid, vmName: name)))
        #expect(deleted.outcome == .succeeded, "\(deleted.error ?? "")")
        #expect(try await hypervisor.state(uuid: spec.uuid) == nil)
        #expect(try await compute.storage.volumeXML(pool: compute.layout.diskPoolName, name: VmSpec.rootVolumeName(vmName: name)) == nil)
        #expect(!FileManager.default.fileExists(atPath: layout.seedPath(spec.uuid)))
        #expect(!FileManager.default.fileExists(atPath: layout.consoleLogPath(spec.uuid)))
        #expect(FileManager.default.fileExists(atPath: cached))
        let twice = await executor.execute(.vmDelete, payload: try JSONValue(encoding: VmRefPayload(vmUuid: spec.uuid, vmName: name)))
        #expect(twice.outcome == .succeeded, "\(twice.error ?? "")")
    }

    @Test func imageFetchTaskReportsWhatItDid() async throws {
        let server = try ImageTestServer()
        defer { server.stop() }
        let dir = try makeTestDirectory("compute-fetch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try TestImageFile(in: dir, bytes: 300_000)
        try server.serve(image.ref.versionId, .init(path: image.path))
        let connection = LibvirtConnection(uri: Self.uri)
        let hypervisor = LibvirtHypervisor(connection: connection)
        let executor = TaskExecutor(hypervisor: hypervisor, compute: try Self.compute(server, in: dir, connection: connection, hypervisor: hypervisor))
        let payload = try JSONValue(encoding: ImageFetchPayload(image: image.ref))
        let first = await executor.execute(.imageFetch, payload: payload)
        #expect(first.outcome == .succeeded)
        #expect(first.observed == ["sha256": .string(image.ref.sha256), "cached": true, "downloadedBytes": 300_000])
        let second = await executor.execute(.imageFetch, payload: payload)
        #expect(second.observed == ["sha256": .string(image.ref.sha256), "cached": true, "downloadedBytes": 0])

        var bad = image.ref
        bad.sha256 = "XYZ"
        let invalid = await executor.execute(.imageFetch, payload: try JSONValue(encoding: ImageFetchPayload(image: bad)))
        #expect(invalid.outcome == .failed)
        #expect(invalid.error?.contains("image.sha256") == true)

        // A corrupted download fails the attempt with the reason; nothing is cached under the hash.
        let corrupt = try TestImageFile(in: dir, bytes: 300_000, seed: 9)
        try server.serve(corrupt.ref.versionId, .init(path: corrupt.path, corruptions: 1))
        let failed = await executor.execute(.imageFetch, payload: try JSONValue(encoding: ImageFetchPayload(image: corrupt.ref)))
        #expect(failed.outcome == .failed)
        #expect(failed.error?.contains("checksum mismatch") == true)
        let retried = await executor.execute(.imageFetch, payload: try JSONValue(encoding: ImageFetchPayload(image: corrupt.ref)))
        #expect(retried.outcome == .succeeded)

        // Without compute resources (a CloudBox), image.fetch is not supported.
        #expect(await TaskExecutor(hypervisor: nil).execute(.imageFetch, payload: payload).outcome == .failed)
    }

    // MARK: Scheduling

    @Test func tasksOfOneVMRunInOrderOthersDoNotWait() async throws {
        let scheduler = TaskScheduler()
        let vm1 = UUID(), vm2 = UUID()
        func task(_ kind: TaskKind, _ payload: JSONValue) -> TaskAssignment {
            TaskAssignment(id: UUID(), kind: kind, payload: payload, attempt: 1, leaseExpiresAt: Date().addingTimeInterval(60))
        }
        let create = task(.vmCreate, ["spec": ["uuid": .string(vm1.uuidString)]])
        let start = task(.vmStart, ["vmUuid": .string(vm1.uuidString.lowercased()), "vmName": "a"])
        let other = task(.vmStart, ["vmUuid": .string(vm2.uuidString), "vmName": "b"])
        let fetch = task(.imageFetch, ["image": ["sha256": .string(sampleImage.sha256)]])
        #expect(TaskScheduler.key(create) == TaskScheduler.key(start))
        #expect(TaskScheduler.key(fetch) == "image:\(sampleImage.sha256)")

        let createTurn = try #require(await scheduler.admit(create))
        #expect(await scheduler.admit(create) == nil)  // delivered again while it runs
        let startTurn = try #require(await scheduler.admit(start))
        let otherTurn = try #require(await scheduler.admit(other))
        #expect(createTurn.previous == nil)
        #expect(otherTurn.previous == nil)
        #expect(startTurn.previous === createTurn.mine)

        let order = OrderLog()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await startTurn.previous?.wait()
                await order.append("start")
                await scheduler.finish(start.id, turn: startTurn)
            }
            group.addTask {
                await otherTurn.previous?.wait()
                await order.append("other")
                await scheduler.finish(other.id, turn: otherTurn)
            }
            // `other` runs while `create` still holds vm1.
            while await !order.entries.contains("other") { await Task.yield() }
            #expect(await order.entries == ["other"])
            await order.append("create")
            await scheduler.finish(create.id, turn: createTurn)
        }
        #expect(await order.entries == ["other", "create", "start"])
        #expect(await scheduler.runningIds().isEmpty)
    }
}

actor OrderLog {
    var entries: [String] = []
    func append(_ entry: String) { entries.append(entry) }
}
