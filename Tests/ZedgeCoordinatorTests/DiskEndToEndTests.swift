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

        /// The SHA-256 of the image's first MiB.
        func firstMiB(_ image: String) async throws -> String {
            let result = try await ProcessRunner.system("sh", ["-c",
                "timeout 60 rbd -c '\(conf)' --no-progress export '\(pool)/\(image)' - | head -c 1048576 | sha256sum | cut -d' ' -f1"])
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func aDiskOnARunningGuestAttachesGrowsDetachesAndOutlivesItsInstance() async throws {
        let uri = try #require(BootEndToEndTests.libvirtURI, "needs a real libvirtd: run under scripts/with-libvirtd.sh (make test does)")
        let imagePath = try #require(BootEndToEndTests.guestImage, "needs the test guest image: ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)")
        let ceph = try Ceph.fromEnvironment()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))

        try await TestCoordinator.with(.sqlite, configure: BootEndToEndTests.configure) { c in
            let admin = try await c.adminToken()
            let (imageId, _) = try await BootEndToEndTests.uploadImage(c, admin, bytes, name: "disk-guest")
            let (machine, stateDir) = try await BootEndToEndTests.registerHost(c, admin, name: "disks")
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            var agent: AgentProcess? = try AgentProcess(stateDir: stateDir, libvirtURI: uri, arguments: ["--domain-type", "qemu"])
            try await eventually("the agent's heartbeat is stored") {
                try await c.client.get("/api/v1/compute-machines/\(machine.id)", token: admin).decode(ComputeMachine.self).lastHeartbeat != nil
            }

            // The data center's Ceph cluster, with its key (write-only).
            let storage = try await c.client.post("/api/v1/resource-pools", token: admin, [
                "name": "ceph", "edgeDataCenterId": machine.edgeDataCenterId.uuidString, "poolType": "STORAGE",
                "storageConfig": ["monitors": [ceph.monitor], "rbdPool": ceph.pool, "cephUser": ceph.user], "cephKey": ceph.key,
            ])
            #expect(storage.status == 201 && !storage.text.contains(ceph.key), "\(storage.text)")
            let storagePool = try storage.decode(ResourcePool.self)

            let template = try await c.client.post("/api/v1/templates", token: admin, [
                "name": "disk-small", "visibility": "PUBLIC", "defaultCpuCores": 1, "defaultMemoryGb": 1, "defaultStorageGb": 1,
                "baseImageId": imageId.uuidString,
            ]).decode(Template.self)
            let tenant = try await c.createTenant("disk-tenant", token: admin)
            let user = try await c.createUser("disk-user", role: .user, tenant: tenant.id, token: admin)
            let created = try await c.client.post("/api/v1/instances", token: user.token, ["name": "disk-1", "templateId": template.id.uuidString])
            #expect(created.status == 202, "\(created.text)")
            let instance = try created.decode(InstanceService.Accepted.self).instance.instance

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
            func operation(_ id: UUID) async throws -> ZedgeCore.Operation {
                var operation = try await c.client.get("/api/v1/operations/\(id)", token: admin).decode(ZedgeCore.Operation.self)
                let deadline = ContinuousClock.now + .seconds(180)
                while !operation.status.isTerminal, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    operation = try await c.client.get("/api/v1/operations/\(id)", token: admin).decode(ZedgeCore.Operation.self)
                }
                return operation
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
                for _ in 0..<3000 where !booted {
                    booted = try await console().contains { $0.contains("ZEDGE-GUEST instance-id=\(instance.id.uuidString.lowercased())") }
                    if !booted { try await Task.sleep(for: .milliseconds(100)) }
                }
                if !booted {
                    let view = try await c.client.get("/api/v1/instances/\(instance.id)", token: admin).text
                    throw TestFailure("the guest did not print ZEDGE-GUEST within 300 s; instance: \(view); console: \(try await console().suffix(20))")
                }
                try await waitForDisks("the guest lists its root disk") { $0.contains("vda=") }

                // 1. A 1 GiB disk, attached RW to the RUNNING guest: it sees a new block device of that size.
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
                // What is written stays (written here with the rbd CLI, checked at the end).
                _ = try await ceph.rbd(["bench", "--io-type", "write", "--io-size", "4K", "--io-total", "1M", "--io-pattern", "seq",
                                        "\(ceph.pool)/\(disk.rbdImageName)"])
                let written = try await ceph.firstMiB(disk.rbdImageName)

                let attachStart = ContinuousClock.now
                let attach = try await c.client.post("/api/v1/private-data-disks/\(disk.id)/attachments", token: user.token, [
                    "instanceId": instance.id.uuidString, "mountPath": "/data", "mountMode": "RW",
                ])
                #expect(attach.status == 202, "\(attach.text)")
                let attached = try attach.decode(DiskAttachments.Accepted.self)
                #expect(try await operation(attached.operation.id).status == .succeeded)
                try await waitForDisks("the guest sees the 1 GiB disk") { $0.contains("=1073741824:ro=0:serial=\(disk.serial)") }
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
                #expect(kept.status == .available && kept.sizeGb == 2, "\(kept)")
                #expect(try await ceph.rbd(["info", "\(ceph.pool)/\(disk.rbdImageName)"]).contains("size 2 GiB"))
                #expect(try await ceph.firstMiB(disk.rbdImageName) == written, "the disk keeps what was written")

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
                    let log = String(decoding: running.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
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
}
