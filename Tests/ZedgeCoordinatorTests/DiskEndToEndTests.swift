import Foundation
import Testing
import ZedgeCore
import ZedgeAgent
@testable import ZedgeCoordinator

/// Private data disks end to end (issue #11): a real single-node Ceph cluster with cephx (`scripts/with-ceph.sh`),
/// a real libvirtd with QEMU (TCG), a real `zedge-agent` process and the test guest, which prints a
/// `ZEDGE-DISKS … vdX=BYTES:ro=R:serial=S` line on its console at boot and whenever its disks change.
///
/// Needs `ZEDGE_TEST_LIBVIRT_URI`, `ZEDGE_TEST_GUEST_IMAGE` and the `ZEDGE_TEST_CEPH_*` variables; `make test`
/// provides them. Without them it fails, naming what is missing (`ZEDGE_TEST_CEPH_ERROR` says why Ceph did not start).
@Suite("Private data disks on a real Ceph cluster", .serialized)
struct DiskEndToEndTests {
    typealias AgentProcess = AgentEndToEndTests.AgentProcess

    /// `BootEndToEndTests.configure`.
    static func configure(_ c: inout CoordinatorConfiguration) {
        BootEndToEndTests.configure(&c)
    }

    struct Ceph {
        let monitor: String
        let user: String
        let key: String
        let pool: String
        let conf: String

        static func fromEnvironment() throws -> Ceph {
            let env = ProcessInfo.processInfo.environment
            if let error = env["ZEDGE_TEST_CEPH_ERROR"] { throw TestFailure("the test Ceph cluster did not start: \(error)") }
            guard let monitor = env["ZEDGE_TEST_CEPH_MONITOR"], let user = env["ZEDGE_TEST_CEPH_USER"], let key = env["ZEDGE_TEST_CEPH_KEY"],
                  let pool = env["ZEDGE_TEST_CEPH_POOL"], let conf = env["ZEDGE_TEST_CEPH_CONF"] else {
                throw TestFailure("needs a Ceph cluster: run under scripts/with-ceph.sh (make test does); ZEDGE_TEST_CEPH_* are not set")
            }
            return Ceph(monitor: monitor, user: user, key: key, pool: pool, conf: conf)
        }

        /// Runs the `rbd` CLI as client.admin (for checks only: Zedge itself goes through libvirt).
        func rbd(_ arguments: [String]) async throws -> String {
            let result = try await ProcessRunner.system("timeout", ["60", "rbd", "-c", conf] + arguments)
            guard result.status == 0 else { throw TestFailure("rbd \(arguments.joined(separator: " ")): \(result.stderr)") }
            return result.stdout
        }

        /// The image's first `count` bytes, as text.
        func firstBytes(_ image: String, count: Int) async throws -> String {
            let result = try await ProcessRunner.system("sh", ["-c",
                "timeout 60 rbd -c '\(conf)' --no-progress export '\(pool)/\(image)' - | head -c \(count)"])
            return result.stdout
        }
    }

    @Test func aDiskOnARunningGuestAttachesGrowsDetachesAndOutlivesItsInstance() async throws {
        let uri = try #require(BootEndToEndTests.libvirtURI, "needs a real libvirtd: run under scripts/with-libvirtd.sh (make test does)")
        let imagePath = try #require(BootEndToEndTests.guestImage, "needs the test guest image: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let ceph = try Ceph.fromEnvironment()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))

        try await TestCoordinator.with(.sqlite, configure: Self.configure) { c in
            let admin = try await c.adminToken()
            let (imageId, _) = try await BootEndToEndTests.uploadImage(c, admin, bytes, name: "disk-guest")
            let (machine, stateDir) = try await BootEndToEndTests.registerHost(c, admin, name: "disks")
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            var agent: AgentProcess? = try AgentProcess(stateDir: stateDir, libvirtURI: uri, arguments: ["--domain-type", "qemu"])
            try await eventually("the agent's heartbeat is stored", within: 120) {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }

            // The data center's Ceph cluster, with its key (write-only).
            let storage = try await c.client.post("/api/v1/resource-pools", token: admin, [
                "name": "ceph", "edgeDataCenterId": machine.edgeDataCenterId.uuidString, "poolType": "STORAGE",
                "storageConfig": ["monitors": [ceph.monitor], "rbdPool": ceph.pool, "cephUser": ceph.user], "cephKey": ceph.key,
            ])
            #expect(storage.status == 201 && !storage.text.contains(ceph.key), "\(storage.text)")
            let storagePool = try storage.decode(ResourcePool.self)

            let tenant = try await c.createTenant("disk-tenant", token: admin)
            let user = try await c.createUser("disk-user", role: .user, tenant: tenant.id, token: admin)
            func operation(_ id: UUID) async throws -> ZedgeCore.Operation {
                try await c.finishedOperation(id, token: admin, within: 180)
            }
            // A 1 GiB disk, made before the instance so that the guest's user-data can name it: the test guest
            // writes a marker to the first bytes of the read-write disk with that serial once it appears.
            let start = ContinuousClock.now
            let diskResponse = try await c.client.post("/api/v1/private-data-disks", token: user.token, ["name": "data", "sizeGb": 1])
            #expect(diskResponse.status == 202, "\(diskResponse.text)")
            let accepted = try diskResponse.decode(DiskService.Accepted.self)
            let disk = accepted.disk
            let createOp = try await operation(accepted.operation.id)
            #expect(createOp.status == .succeeded, "\(createOp)")
            let createSeconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
            let available = try await c.client.get("/api/v1/private-data-disks/\(disk.id)", token: user.token).decode(PrivateDataDisk.self)
            #expect(available.status == .available, "\(available)")
            #expect(try await ceph.rbd(["info", "\(ceph.pool)/\(disk.rbdImageName)"]).contains("size 1 GiB"))
            let marker = "zedge-data-\(disk.id.uuidString.lowercased())"

            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "disk-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "baseImageId": imageId.uuidString, "userData": "#cloud-config\n# zedge-write-disk: \(disk.serial) \(marker)\n",
            ]).decode(Template.self)
            let created = try await c.client.post("/api/v1/instances", token: user.token, ["name": "disk-1", "templateId": template.id.uuidString])
            #expect(created.status == 202, "\(created.text)")
            let instance = try created.decode(InstanceService.Accepted.self).instance.instance
            let createdOperation = try created.decode(InstanceService.Accepted.self).operation.id

            func console() async throws -> [String] {
                let response = try await c.client.get("/api/v1/instances/\(instance.id)/console-log?lines=400", token: user.token)
                guard response.status == 200 else { return [] }
                return try response.decode(ConsoleLogOutput.self).lines
            }
            /// The newest ZEDGE-DISKS line.
            func disksLine() async throws -> String? {
                try await console().last { $0.contains("ZEDGE-DISKS") }
            }
            func waitForDisks(_ what: String, _ predicate: @escaping @Sendable (String) -> Bool) async throws {
                var last: String?
                do {
                    try await eventually(what, within: 120) {
                        last = try await disksLine()
                        return last.map(predicate) ?? false
                    }
                } catch {
                    throw TestFailure("\(what): last ZEDGE-DISKS line: \(last ?? "none")")
                }
                if last.map(predicate) != true { throw TestFailure("\(what): last ZEDGE-DISKS line: \(last ?? "none")") }
            }

            /// The test's domain, then the agent's libvirt pool and secret for this (throwaway) cluster, gone whatever
            /// happened: no reconciler runs here, and this libvirtd outlives the cluster.
            func cleanup() async {
                let hypervisor = LibvirtHypervisor(connection: LibvirtConnection(uri: uri), cpuMode: .hypervisorDefault)
                for vm in (try? await hypervisor.list()) ?? [] where vm.vmName.hasPrefix("zedge-") && vm.vmName.hasSuffix("-disk-1") {
                    if let uuid = UUID(uuidString: vm.vmUuid) { try? await hypervisor.delete(uuid: uuid) }
                }
                let cluster = RbdCluster(storagePoolId: storagePool.id, monitors: [ceph.monitor], rbdPool: ceph.pool, cephUser: ceph.user)
                for command in [["pool-destroy", cluster.libvirtPoolName], ["pool-undefine", cluster.libvirtPoolName],
                                ["secret-undefine", cluster.secretUuid.uuidString.lowercased()]] {
                    _ = try? await ProcessRunner.system("virsh", ["-c", uri] + command)
                }
            }
            do {
                var booted = false
                for round in 0..<3000 where !booted {
                    booted = try await console().contains { $0.contains("ZEDGE-GUEST instance-id=\(instance.id.uuidString.lowercased())") }
                    if !booted, round % 20 == 19,
                       try await c.client.get("/api/v1/instances/\(instance.id)", token: admin).decode(InstanceView.self).instance.status == .error {
                        break  // it will not boot: say why below
                    }
                    if !booted { try await Task.sleep(for: .milliseconds(100)) }
                }
                if !booted {
                    let view = try await c.client.get("/api/v1/instances/\(instance.id)", token: admin).text
                    let operation = try await c.client.get("/api/v1/operations/\(createdOperation)", token: admin).text
                    throw TestFailure("the guest did not print ZEDGE-GUEST within 300 s; instance: \(view); operation: \(operation); "
                                      + "console: \(try await console().suffix(20))")
                }
                try await waitForDisks("the guest lists its root disk") { $0.contains("vda=") }

                // 1. The disk, attached RW to the RUNNING guest: it sees a new block device of that size, and writes
                //    its marker there.
                let attachStart = ContinuousClock.now
                let attach = try await c.client.post("/api/v1/private-data-disks/\(disk.id)/attachments", token: user.token, [
                    "instanceId": instance.id.uuidString, "mountPath": "/data", "mountMode": "RW",
                ])
                #expect(attach.status == 202, "\(attach.text)")
                let attached = try attach.decode(DiskAttachments.Accepted.self)
                #expect(try await operation(attached.operation.id).status == .succeeded)
                try await waitForDisks("the guest sees the 1 GiB disk") { $0.contains("=1073741824:ro=0:serial=\(disk.serial)") }
                try await eventually("the guest writes its marker to the disk", within: 60) {
                    try await console().contains { $0.contains("ZEDGE-WROTE serial=\(disk.serial)") }
                }
                let attachSeconds = (ContinuousClock.now - attachStart).components.seconds
                print("disks: create \(String(format: "%.1f", createSeconds)) s; attach to a running guest until the guest sees it: \(attachSeconds) s (TCG)")
                let shown = try await c.client.get("/api/v1/private-data-disks/\(disk.id)", token: user.token).decode(PrivateDataDisk.self)
                #expect(shown.status == .attached)

                // 2. Grown to 2 GiB while attached: the guest sees the new size.
                let grow = try await c.client.patch("/api/v1/private-data-disks/\(disk.id)", token: user.token, ["sizeGb": 2])
                #expect(grow.status == 202, "\(grow.text)")
                #expect(try await operation(try grow.decode(DiskService.Accepted.self).operation.id).status == .succeeded)
                try await waitForDisks("the guest sees 2 GiB") { $0.contains("=2147483648:ro=0:serial=\(disk.serial)") }

                // 3. Detached: gone from the guest; then attached RO: read-only in the guest.
                let detach = try await c.client.delete("/api/v1/private-data-disks/\(disk.id)/attachments/\(attached.attachment.id)", token: user.token)
                #expect(detach.status == 202, "\(detach.text)")
                #expect(try await operation(try detach.decode(DiskAttachments.Accepted.self).operation.id).status == .succeeded)
                try await waitForDisks("the disk is gone from the guest") { !$0.contains("serial=\(disk.serial)") && $0.contains("vda=") }
                let ro = try await c.client.post("/api/v1/private-data-disks/\(disk.id)/attachments", token: user.token, [
                    "instanceId": instance.id.uuidString, "mountPath": "/data", "mountMode": "RO",
                ])
                #expect(ro.status == 202, "\(ro.text)")
                #expect(try await operation(try ro.decode(DiskAttachments.Accepted.self).operation.id).status == .succeeded)
                try await waitForDisks("the guest sees the disk read-only") { $0.contains("=2147483648:ro=1:serial=\(disk.serial)") }
                // Grown while attached read-only: QEMU resizes no read-only device, so the image grows through the
                // storage API (the guest sees the size when it next attaches the disk).
                let growRO = try await c.client.patch("/api/v1/private-data-disks/\(disk.id)", token: user.token, ["sizeGb": 3])
                #expect(growRO.status == 202, "\(growRO.text)")
                let growROOp = try await operation(try growRO.decode(DiskService.Accepted.self).operation.id)
                #expect(growROOp.status == .succeeded, "\(growROOp)")
                #expect(try await ceph.rbd(["info", "\(ceph.pool)/\(disk.rbdImageName)"]).contains("size 3 GiB"))

                // The heartbeat reports the domain's RBD disks.
                try await eventually("the heartbeat lists the attached disk") {
                    let observed = try await c.client.get("/api/v1/compute-machines/\(machine.id)/observed-vms", token: admin)
                    return observed.text.contains(disk.rbdImageName)
                }

                // 4. Deleting the instance keeps the disk, AVAILABLE, with what was written.
                #expect(try await c.client.delete("/api/v1/instances/\(instance.id)", token: user.token).status == 202)
                try await eventually("the instance is DELETED", within: 120) {
                    try await c.client.get("/api/v1/instances/\(instance.id)", token: admin).decode(InstanceView.self).instance.status == .deleted
                }
                let kept = try await c.client.get("/api/v1/private-data-disks/\(disk.id)", token: user.token).decode(PrivateDataDisk.self)
                #expect(kept.status == .available && kept.sizeGb == 3 && kept.error == nil, "\(kept)")
                #expect(try await ceph.rbd(["info", "\(ceph.pool)/\(disk.rbdImageName)"]).contains("size 3 GiB"))
                let head = try await ceph.firstBytes(disk.rbdImageName, count: marker.utf8.count + 1)
                #expect(head == marker + "\n", "the disk keeps what the guest wrote: \(head.debugDescription)")

                // 5. Delete: the image goes.
                let deleting = try await c.client.delete("/api/v1/private-data-disks/\(disk.id)", token: user.token)
                #expect(deleting.status == 202, "\(deleting.text)")
                #expect(try await operation(try deleting.decode(DiskService.Accepted.self).operation.id).status == .succeeded)
                #expect(try await c.client.get("/api/v1/private-data-disks/\(disk.id)", token: user.token).status == 404)
                #expect(!(try await ceph.rbd(["ls", ceph.pool])).contains(disk.rbdImageName))

                // The key is nowhere but in the coordinator's secrets table and libvirt's secret store: not in the agent's
                // journal or state dir, not in its log.
                if let running = agent {
                    kill(running.process.processIdentifier, SIGTERM)
                    _ = try await running.waitForExit()
                    let log = await running.log()
                    #expect(!log.contains(ceph.key), "the agent's log holds the cephx key")
                    agent = nil
                }
                let enumerator = FileManager.default.enumerator(atPath: stateDir)
                var scanned = 0
                while let file = enumerator?.nextObject() as? String {
                    guard let data = FileManager.default.contents(atPath: "\(stateDir)/\(file)") else { continue }
                    scanned += 1
                    #expect(data.range(of: Data(ceph.key.utf8)) == nil, "\(file) holds the cephx key")
                    if let raw = Data(base64Encoded: ceph.key) { #expect(data.range(of: raw) == nil, "\(file) holds the raw cephx key") }
                }
                #expect(scanned > 0, "the agent's state dir was scanned")
                await cleanup()
            } catch {
                await cleanup()
                throw error
            }
        }
    }

    // MARK: - kill -9 and shareable disks

    /// What the tests below share: a coordinator with one real agent (restartable) on the real libvirtd, the Ceph
    /// cluster as a STORAGE pool of its data center, a tenant user and a 1-core template on the test guest.
    final class Rig: @unchecked Sendable {  // holds the AgentProcess; used only from the test's task
        let c: TestCoordinator
        let admin: String
        let user: String
        let uri: String
        let ceph: Ceph
        let machine: ComputeMachine
        let stateDir: String
        let storagePool: ResourcePool
        let template: Template
        /// Instance names, for `cleanup` (matched as the domain name's suffix).
        var names: [String] = []
        var agent: AgentProcess?

        init(c: TestCoordinator, admin: String, user: String, uri: String, ceph: Ceph, machine: ComputeMachine, stateDir: String,
             storagePool: ResourcePool, template: Template, agent: AgentProcess) {
            self.c = c
            self.admin = admin
            self.user = user
            self.uri = uri
            self.ceph = ceph
            self.machine = machine
            self.stateDir = stateDir
            self.storagePool = storagePool
            self.template = template
            self.agent = agent
        }

        var hypervisor: LibvirtHypervisor { LibvirtHypervisor(connection: LibvirtConnection(uri: uri), cpuMode: .hypervisorDefault) }

        func startAgent(fault: String? = nil) throws -> AgentProcess {
            try AgentProcess(stateDir: stateDir, libvirtURI: uri, environment: fault.map { ["ZEDGE_AGENT_FAULT": $0] } ?? [:],
                             arguments: ["--domain-type", "qemu"])
        }

        /// Stops the running agent (SIGTERM), so that the next task queued waits for the agent started next.
        func stopAgent() async throws {
            guard let running = agent else { return }
            kill(running.process.processIdentifier, SIGTERM)
            _ = try await running.waitForExit()
            agent = nil
        }

        /// Starts an agent armed with `fault` (a task must be queued for it), which must kill itself (SIGKILL) at
        /// that point within 120 s. Start a normal agent after it: it finishes the task once its lease has run out.
        func crash(at fault: String) async throws {
            precondition(agent == nil, "stop the agent before queueing the task the doomed one is to run")
            let doomed = try startAgent(fault: fault)
            let deadline = ContinuousClock.now + .seconds(120)
            while doomed.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if doomed.process.isRunning {
                kill(doomed.process.processIdentifier, SIGKILL)
                _ = try await doomed.waitForExit()
                let log = await doomed.log()
                throw TestFailure("the agent armed with \(fault) did not kill itself within 120 s; its log: \(log.suffix(3000))")
            }
            guard doomed.process.terminationReason == .uncaughtSignal, doomed.process.terminationStatus == SIGKILL else {
                let log = await doomed.log()
                throw TestFailure("the agent armed with \(fault) ended with \(doomed.process.terminationReason == .exit ? "exit" : "signal") "
                    + "\(doomed.process.terminationStatus), not SIGKILL; its log: \(log.suffix(3000))")
            }
        }

        func operation(_ id: UUID, within seconds: Int = 120) async throws -> ZedgeCore.Operation {
            try await c.finishedOperation(id, token: admin, within: seconds)
        }

        func disk(_ id: UUID) async throws -> PrivateDataDisk {
            try await c.client.get("/api/v1/private-data-disks/\(id)", token: user).decode(PrivateDataDisk.self)
        }

        func attachment(_ disk: UUID, _ id: UUID) async throws -> InstancePrivateDataDiskAttachment {
            try await c.client.get("/api/v1/private-data-disks/\(disk)/attachments/\(id)", token: user).decode(InstancePrivateDataDiskAttachment.self)
        }

        /// An instance of the template, accepted (202); `cleanup` removes its domain.
        func createInstance(_ name: String) async throws -> Instance {
            names.append(name)
            let created = try await c.client.post("/api/v1/instances", token: user, ["name": name, "templateId": template.id.uuidString])
            guard created.status == 202 else { throw TestFailure("create instance \(name): \(created.status) \(created.text)") }
            return try created.decode(InstanceService.Accepted.self).instance.instance
        }

        func console(_ instance: Instance) async throws -> [String] {
            let response = try await c.client.get("/api/v1/instances/\(instance.id)/console-log?lines=400", token: user)
            guard response.status == 200 else { return [] }
            return try response.decode(ConsoleLogOutput.self).lines
        }

        /// Waits until the guest has printed its ZEDGE-GUEST line and a ZEDGE-DISKS line with its root disk.
        func waitForBoot(_ instance: Instance) async throws {
            let deadline = ContinuousClock.now + .seconds(300)
            while ContinuousClock.now < deadline {
                let lines = try await console(instance)
                if lines.contains(where: { $0.contains("ZEDGE-GUEST instance-id=\(instance.id.uuidString.lowercased())") }),
                   lines.last(where: { $0.contains("ZEDGE-DISKS") })?.contains("vda=") == true { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            let view = try await c.client.get("/api/v1/instances/\(instance.id)", token: admin).text
            throw TestFailure("\(instance.name) did not boot within 300 s; instance: \(view); console: \(try await console(instance).suffix(20))")
        }

        /// Waits (up to 120 s) until the guest's newest ZEDGE-DISKS line satisfies `predicate`; returns that line.
        @discardableResult
        func waitForDisks(_ instance: Instance, _ what: String, _ predicate: (String) -> Bool) async throws -> String {
            var last: String?
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                last = try await console(instance).last { $0.contains("ZEDGE-DISKS") }
                if let line = last, predicate(line) { return line }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("\(instance.name): \(what): last ZEDGE-DISKS line: \(last ?? "none")")
        }

        /// The domain's disks with `image` as their RBD source: live (`virsh dumpxml`) and persistent (`--inactive`).
        func domainDisks(_ vmUuid: String, image: String) async throws -> (live: [DomainDisk], persistent: [DomainDisk]) {
            func read(_ extra: [String]) async throws -> [DomainDisk] {
                let result = try await ProcessRunner.system("virsh", ["-c", uri, "dumpxml"] + extra + [vmUuid])
                guard result.status == 0 else { throw TestFailure("virsh dumpxml \(extra) \(vmUuid): \(result.stderr)") }
                return try DomainDisk.parse(domainXML: result.stdout).filter { $0.isRbd(pool: ceph.pool, image: image) }
            }
            return (try await read([]), try await read(["--inactive"]))
        }

        func vmUuid(of instance: Instance) async throws -> String {
            let page = try await c.client.get("/api/v1/virtual-machines?instanceId=\(instance.id)", token: admin).decode(Page<VirtualMachine>.self)
            guard let uuid = page.items.first?.vmUuid else { throw TestFailure("no VM for instance \(instance.name)") }
            return uuid
        }

        /// The images in the pool (`rbd ls`).
        func images() async throws -> Set<String> {
            Set(try await ceph.rbd(["ls", ceph.pool]).split(whereSeparator: \.isNewline).map(String.init))
        }

        /// The images in the pool named for this coordinator's disks: the pool is the run's one Ceph pool, and other
        /// suites (the agent soak) make and delete images in it meanwhile.
        func ownImages() async throws -> Set<String> {
            let disks = try await c.client.get("/api/v1/private-data-disks", token: admin).decode(Page<PrivateDataDisk>.self)
            return try await images().intersection(disks.items.map(\.rbdImageName))
        }

        /// The image's watchers (`rbd status`): one per client that has it open.
        func watchers(_ image: String) async throws -> Int {
            try await ceph.rbd(["status", "\(ceph.pool)/\(image)"]).split(whereSeparator: \.isNewline).filter { $0.contains("watcher=") }.count
        }

        /// The test's domains (and their root overlays), then the agent's libvirt pool and secret for this (throwaway)
        /// cluster, gone whatever happened: no reconciler runs here, and this libvirtd outlives the cluster. The agent
        /// is stopped first, so that it does not act on them meanwhile.
        func cleanup() async {
            if let running = agent {
                kill(running.process.processIdentifier, SIGKILL)
                _ = try? await running.waitForExit()
                agent = nil
            }
            let hypervisor = self.hypervisor
            let storage = LibvirtStorage(connection: LibvirtConnection(uri: uri))
            for vm in (try? await hypervisor.list()) ?? [] where vm.vmName.hasPrefix("zedge-") && names.contains(where: { vm.vmName.hasSuffix("-\($0)") }) {
                if let uuid = UUID(uuidString: vm.vmUuid) { try? await hypervisor.delete(uuid: uuid) }
                try? await storage.deleteVolume(pool: AgentLayout(stateDirectory: stateDir).diskPoolName, name: VmSpec.rootVolumeName(vmName: vm.vmName))
            }
            let cluster = RbdCluster(storagePoolId: storagePool.id, monitors: [ceph.monitor], rbdPool: ceph.pool, cephUser: ceph.user)
            for command in [["pool-destroy", cluster.libvirtPoolName], ["pool-undefine", cluster.libvirtPoolName],
                            ["secret-undefine", cluster.secretUuid.uuidString.lowercased()]] {
                _ = try? await ProcessRunner.system("virsh", ["-c", uri] + command)
            }
        }
    }

    /// A coordinator, a registered host with its agent running, the Ceph cluster as its data center's STORAGE
    /// pool, a tenant user and a template; `body` runs with them, and `Rig.cleanup` runs after it whatever happens.
    /// Fails (never skips) when libvirtd, the guest image or Ceph is missing.
    static func withRig(_ name: String, configure: @escaping (inout CoordinatorConfiguration) -> Void = { _ in },
                        _ body: (Rig) async throws -> Void) async throws {
        let uri = try #require(BootEndToEndTests.libvirtURI, "needs a real libvirtd: run under scripts/with-libvirtd.sh (make test does)")
        let imagePath = try #require(BootEndToEndTests.guestImage, "needs the test guest image: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let ceph = try Ceph.fromEnvironment()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))
        try await TestCoordinator.with(.sqlite, configure: {
            Self.configure(&$0)
            configure(&$0)
        }) { c in
            let admin = try await c.adminToken()
            let (imageId, _) = try await BootEndToEndTests.uploadImage(c, admin, bytes, name: "\(name)-guest")
            let (machine, stateDir) = try await BootEndToEndTests.registerHost(c, admin, name: name)
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            let agent = try AgentProcess(stateDir: stateDir, libvirtURI: uri, arguments: ["--domain-type", "qemu"])
            try await eventually("the agent's heartbeat is stored", within: 120) {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }
            let storage = try await c.client.post("/api/v1/resource-pools", token: admin, [
                "name": "\(name)-ceph", "edgeDataCenterId": machine.edgeDataCenterId.uuidString, "poolType": "STORAGE",
                "storageConfig": ["monitors": [ceph.monitor], "rbdPool": ceph.pool, "cephUser": ceph.user], "cephKey": ceph.key,
            ])
            guard storage.status == 201 else { throw TestFailure("STORAGE pool: \(storage.status) \(storage.text)") }
            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "\(name)-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "baseImageId": imageId.uuidString,
            ]).decode(Template.self)
            let tenant = try await c.createTenant("\(name)-tenant", token: admin)
            let user = try await c.createUser("\(name)-user", role: .user, tenant: tenant.id, token: admin)
            let rig = Rig(c: c, admin: admin, user: user.token, uri: uri, ceph: ceph, machine: machine, stateDir: stateDir,
                          storagePool: try storage.decode(ResourcePool.self), template: template, agent: agent)
            do {
                try await body(rig)
                await rig.cleanup()
            } catch {
                await rig.cleanup()
                throw error
            }
        }
    }

    /// kill -9 of the agent right after `disk.create` made the RBD image, and right after `disk.attach` gave the
    /// running domain the disk (before either result is journaled): the task is handed out again once its lease
    /// (3 s) runs out, the restarted agent runs it again, and it ends with one image and one attachment.
    @Test func aDiskCreateOrAttachKilledMidwayEndsWithOneImageAndOneAttachment() async throws {
        try await Self.withRig("dcrash", configure: {
            $0.taskLeaseSeconds = 3
            // The agent is down for a few seconds at a time: the machine must stay ACTIVE (disks are made on
            // ACTIVE machines only, and console logs are read only from machines that are not OFFLINE).
            $0.missedHeartbeatsBeforeOffline = 120
        }) { rig in
            let c = rig.c
            let start = ContinuousClock.now
            let instance = try await rig.createInstance("dcrash-1")
            try await rig.waitForBoot(instance)
            let vmUuid = try await rig.vmUuid(of: instance)
            let booted = ContinuousClock.now

            // 1. disk.create, killed once the image exists.
            let before = try await rig.ownImages()
            try await rig.stopAgent()
            let created = try await c.client.post("/api/v1/private-data-disks", token: rig.user, ["name": "crash-data", "sizeGb": 1])
            #expect(created.status == 202, "\(created.text)")
            let accepted = try created.decode(DiskService.Accepted.self)
            let disk = accepted.disk
            try await rig.crash(at: "crash-after-volume-create")
            #expect(try await rig.images().contains(disk.rbdImageName), "the doomed agent made the image before it died")
            #expect(try await rig.disk(disk.id).status == .creating, "the coordinator has no result yet")
            rig.agent = try rig.startAgent()
            let createOp = try await rig.operation(accepted.operation.id)
            #expect(createOp.status == .succeeded, "\(createOp)")
            #expect(try await rig.disk(disk.id).status == .available)
            let after = try await rig.ownImages()
            #expect(after.subtracting(before) == [disk.rbdImageName], "one new image, \(disk.rbdImageName): \(after.subtracting(before).sorted())")
            let listed = try await rig.ceph.rbd(["ls", rig.ceph.pool]).split(whereSeparator: \.isNewline).filter { $0 == disk.rbdImageName }
            #expect(listed.count == 1)
            #expect(try await rig.ceph.rbd(["info", "\(rig.ceph.pool)/\(disk.rbdImageName)"]).contains("size 1 GiB"))
            let createdAt = ContinuousClock.now

            // 2. disk.attach to the RUNNING instance, killed once the domain has the disk (live and defined).
            try await rig.stopAgent()
            let attach = try await c.client.post("/api/v1/private-data-disks/\(disk.id)/attachments", token: rig.user, [
                "instanceId": instance.id.uuidString, "mountPath": "/data", "mountMode": "RW",
            ])
            #expect(attach.status == 202, "\(attach.text)")
            let attached = try attach.decode(DiskAttachments.Accepted.self)
            try await rig.crash(at: "crash-after-attach")
            let held = try await rig.domainDisks(vmUuid, image: disk.rbdImageName)
            #expect(held.live.count == 1 && held.persistent.count == 1,
                    "the doomed agent attached the disk before it died: live \(held.live.map(\.target)), persistent \(held.persistent.map(\.target))")
            #expect(try await rig.attachment(disk.id, attached.attachment.id).status == .attaching, "the coordinator has no result yet")
            rig.agent = try rig.startAgent()
            let attachOp = try await rig.operation(attached.operation.id)
            #expect(attachOp.status == .succeeded, "\(attachOp)")
            #expect(try await rig.attachment(disk.id, attached.attachment.id).status == .attached)
            #expect(try await rig.disk(disk.id).status == .attached)

            // One disk with that source, in the live and the persistent definition, and in the guest.
            let disks = try await rig.domainDisks(vmUuid, image: disk.rbdImageName)
            #expect(disks.live.count == 1, "live: \(disks.live.map(\.target))")
            #expect(disks.persistent.count == 1, "persistent: \(disks.persistent.map(\.target))")
            #expect(disks.live.first?.target == disks.persistent.first?.target)
            let observed = try await rig.hypervisor.state(uuid: try #require(UUID(uuidString: vmUuid)))?.disks ?? []
            #expect(observed.filter { $0.image == disk.rbdImageName }.count == 1, "\(observed)")
            let line = try await rig.waitForDisks(instance, "the guest sees the disk") { $0.contains(":serial=\(disk.serial)") }
            #expect(line.components(separatedBy: "serial=\(disk.serial)").count == 2, "the guest sees the disk once: \(line)")
            #expect(line.contains("=1073741824:ro=0:serial=\(disk.serial)"), "\(line)")
            let done = ContinuousClock.now
            print("disks, kill -9: boot \((booted - start).components.seconds) s; create killed → SUCCEEDED "
                + "\((createdAt - booted).components.seconds) s; attach killed → SUCCEEDED and seen \((done - createdAt).components.seconds) s")
        }
    }

    /// A SHARED disk (maxAttachments 2) on two RUNNING instances of one host: `<shareable/>` with cache='none' in
    /// both domains, seen by both guests, two watchers in Ceph; a third attachment is refused (409); detached from
    /// both and deleted. (A third instance does not fit on a 2-core test host: the limit is shown with a SHARED
    /// disk of maxAttachments 1.)
    @Test func aSharedDiskIsShareableInBothDomains() async throws {
        try await Self.withRig("dshare") { rig in
            let c = rig.c
            let start = ContinuousClock.now
            let instances = [try await rig.createInstance("dshare-a"), try await rig.createInstance("dshare-b")]
            for instance in instances { try await rig.waitForBoot(instance) }
            var vmUuids: [String] = []
            for instance in instances { vmUuids.append(try await rig.vmUuid(of: instance)) }
            let booted = ContinuousClock.now

            let created = try await c.client.post("/api/v1/private-data-disks", token: rig.user, [
                "name": "shared-data", "sizeGb": 1, "shareMode": "SHARED", "maxAttachments": 2,
            ])
            #expect(created.status == 202, "\(created.text)")
            let accepted = try created.decode(DiskService.Accepted.self)
            let disk = accepted.disk
            #expect(disk.shareMode == .shared && disk.maxAttachments == 2, "\(disk)")
            #expect(try await rig.operation(accepted.operation.id).status == .succeeded)

            // Attached to both (concurrently: one task per domain).
            var attachments: [DiskAttachments.Accepted] = []
            for instance in instances {
                let attach = try await c.client.post("/api/v1/private-data-disks/\(disk.id)/attachments", token: rig.user, [
                    "instanceId": instance.id.uuidString, "mountPath": "/shared", "mountMode": "RW",
                ])
                guard attach.status == 202 else { throw TestFailure("attach to \(instance.name): \(attach.status) \(attach.text)") }
                attachments.append(try attach.decode(DiskAttachments.Accepted.self))
            }
            for accepted in attachments {
                let operation = try await rig.operation(accepted.operation.id)
                #expect(operation.status == .succeeded, "\(operation)")
                #expect(try await rig.attachment(disk.id, accepted.attachment.id).status == .attached)
            }
            #expect(try await rig.disk(disk.id).status == .attached)
            for (instance, vmUuid) in zip(instances, vmUuids) {
                let disks = try await rig.domainDisks(vmUuid, image: disk.rbdImageName)
                for (which, found) in [("live", disks.live), ("persistent", disks.persistent)] {
                    #expect(found.count == 1, "\(instance.name) \(which): \(found.map(\.target))")
                    #expect(found.allSatisfy { $0.shareable }, "\(instance.name) \(which): \(found.map(\.xml))")
                    #expect(found.allSatisfy { $0.xml.contains("cache='none'") || $0.xml.contains("cache=\"none\"") },
                            "\(instance.name) \(which): \(found.map(\.xml))")
                    #expect(found.allSatisfy { !$0.readOnly }, "\(instance.name) \(which)")
                }
                try await rig.waitForDisks(instance, "the guest sees the shared disk") { $0.contains("=1073741824:ro=0:serial=\(disk.serial)") }
            }
            var watchers = 0
            try await eventually("two watchers on the image") {
                watchers = try await rig.watchers(disk.rbdImageName)
                return watchers == 2
            }
            let status = try await rig.ceph.rbd(["status", "\(rig.ceph.pool)/\(disk.rbdImageName)"])
            #expect(watchers == 2, "rbd status: \(status)")
            let attachedAt = ContinuousClock.now

            // A third attachment: refused. Again to one of the two (UNIQUE instance and disk) ...
            let again = try await c.client.post("/api/v1/private-data-disks/\(disk.id)/attachments", token: rig.user, [
                "instanceId": instances[0].id.uuidString, "mountPath": "/again", "mountMode": "RW",
            ])
            #expect(again.status == 409, "\(again.text)")
            // ... and past the limit: a SHARED disk of maxAttachments 1, taken by the first instance, refused to the second.
            let single = try await c.client.post("/api/v1/private-data-disks", token: rig.user, [
                "name": "shared-one", "sizeGb": 1, "shareMode": "SHARED", "maxAttachments": 1,
            ])
            #expect(single.status == 202, "\(single.text)")
            let one = try single.decode(DiskService.Accepted.self)
            #expect(try await rig.operation(one.operation.id).status == .succeeded)
            let first = try await c.client.post("/api/v1/private-data-disks/\(one.disk.id)/attachments", token: rig.user, [
                "instanceId": instances[0].id.uuidString, "mountPath": "/one", "mountMode": "RW",
            ])
            #expect(first.status == 202, "\(first.text)")
            let over = try await c.client.post("/api/v1/private-data-disks/\(one.disk.id)/attachments", token: rig.user, [
                "instanceId": instances[1].id.uuidString, "mountPath": "/one", "mountMode": "RW",
            ])
            #expect(over.status == 409 && over.text.contains("maxAttachments 1"), "\(over.status) \(over.text)")
            let firstAccepted = try first.decode(DiskAttachments.Accepted.self)
            #expect(try await rig.operation(firstAccepted.operation.id).status == .succeeded)
            let refused = try await rig.domainDisks(vmUuids[1], image: one.disk.rbdImageName)
            #expect(refused.live.isEmpty && refused.persistent.isEmpty, "the refused attach reached no domain")
            let detachOne = try await c.client.delete("/api/v1/private-data-disks/\(one.disk.id)/attachments/\(firstAccepted.attachment.id)", token: rig.user)
            #expect(detachOne.status == 202, "\(detachOne.text)")
            #expect(try await rig.operation(try detachOne.decode(DiskAttachments.Accepted.self).operation.id).status == .succeeded)
            let deleteOne = try await c.client.delete("/api/v1/private-data-disks/\(one.disk.id)", token: rig.user)
            #expect(deleteOne.status == 202, "\(deleteOne.text)")
            #expect(try await rig.operation(try deleteOne.decode(DiskService.Accepted.self).operation.id).status == .succeeded)

            // Detached from both (concurrently), then deleted.
            var detaches: [UUID] = []
            for accepted in attachments {
                let detach = try await c.client.delete("/api/v1/private-data-disks/\(disk.id)/attachments/\(accepted.attachment.id)", token: rig.user)
                #expect(detach.status == 202, "\(detach.text)")
                detaches.append(try detach.decode(DiskAttachments.Accepted.self).operation.id)
            }
            for id in detaches {
                let operation = try await rig.operation(id)
                #expect(operation.status == .succeeded, "\(operation)")
            }
            for accepted in attachments {
                #expect(try await c.client.get("/api/v1/private-data-disks/\(disk.id)/attachments/\(accepted.attachment.id)", token: rig.user).status == 404)
            }
            #expect(try await rig.disk(disk.id).status == .available)
            for (instance, vmUuid) in zip(instances, vmUuids) {
                let disks = try await rig.domainDisks(vmUuid, image: disk.rbdImageName)
                #expect(disks.live.isEmpty && disks.persistent.isEmpty, "\(instance.name) still has the disk")
                try await rig.waitForDisks(instance, "the shared disk is gone from the guest") { !$0.contains("serial=\(disk.serial)") && $0.contains("vda=") }
            }
            #expect(try await rig.watchers(disk.rbdImageName) == 0)
            let deleting = try await c.client.delete("/api/v1/private-data-disks/\(disk.id)", token: rig.user)
            #expect(deleting.status == 202, "\(deleting.text)")
            #expect(try await rig.operation(try deleting.decode(DiskService.Accepted.self).operation.id).status == .succeeded)
            #expect(try await c.client.get("/api/v1/private-data-disks/\(disk.id)", token: rig.user).status == 404)
            let left = try await rig.images()
            #expect(!left.contains(disk.rbdImageName) && !left.contains(one.disk.rbdImageName), "\(left.sorted())")
            let done = ContinuousClock.now
            print("disks, shared: two guests booted \((booted - start).components.seconds) s; created and attached to both "
                + "\((attachedAt - booted).components.seconds) s; limit, detach, delete \((done - attachedAt).components.seconds) s")
        }
    }
}
