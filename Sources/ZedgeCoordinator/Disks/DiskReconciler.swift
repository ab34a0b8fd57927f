import Foundation
import Logging
import ZedgeCore

/// Repairs drift between disk attachments and the RBD disks agents report on their domains (`ObservedVm.disks`),
/// as `InstanceReconciler` does for domains; it runs in the same pass. With a fresh heartbeat that is newer than
/// the attachment's last change, and no operation on the attachment under way:
///
/// - an ATTACHED attachment whose placed instance's domain lacks the disk gets `disk.attach` again (ATTACHING);
/// - an ATTACHING one whose task was lost becomes ATTACHED when the domain has the disk, and gets `disk.attach`
///   again when it does not; a DETACHING one goes when the domain has let the disk go, and gets `disk.detach`
///   again when it has not;
/// - a Zedge domain holding a private data disk (an image named `pdd-…`) that no attachment of its instance
///   explains, in a report newer than the disk's last attachment change, gets `disk.detach` (once per
///   `OrphanLedger` window).
///
/// Hosts whose agents do not report disks (`disks` nil, older agents) are left alone.
public struct DiskReconciler: Sendable {
    let attachments: DiskAttachments
    let disks: any DiskRepository
    let tasks: any TaskRepository
    let hosts: any HostRepository
    let logger: Logger
    let orphans = OrphanLedger()

    public init(attachments: DiskAttachments, disks: any DiskRepository, tasks: any TaskRepository, hosts: any HostRepository, logger: Logger) {
        self.attachments = attachments
        self.disks = disks
        self.tasks = tasks
        self.hosts = hosts
        self.logger = logger
    }

    /// One look at every attachment and every fresh host report.
    func pass(_ reports: HostReports, freshness: TimeInterval, now: Date) async throws {
        let inFlight = try await tasks.resourcesInFlight()
        let rows = try await disks.liveAttachments()
        var explained: Set<String> = []
        for row in rows {
            guard let machineId = row.computeMachineId, let vmUuid = row.vmUuid else { continue }
            explained.insert(Self.key(vmUuid, row.disk.rbdPool, row.disk.rbdImageName))
            guard !inFlight.contains(row.attachment.id), row.instanceStatus == .running || row.instanceStatus == .stopped,
                  let beat = reports.latest(machineId), now.timeIntervalSince(beat.at) <= freshness,
                  // Newer than the attachment's last change: the disk's `updatedAt` moves with each (a repair's
                  // resend included), `attachedAt` only with an attach. Against `attachedAt` alone, a pass that ran
                  // after an agent's disk.attach result and before its outcome moved the attachment to ATTACHED took
                  // the heartbeat from before that resend for news, and sent disk.attach once more.
                  beat.at > max(row.attachment.attachedAt, row.disk.updatedAt).addingTimeInterval(1),
                  let vm = beat.observedVms.first(where: { UUID(uuidString: $0.vmUuid) == vmUuid }), let observed = vm.disks else { continue }
            let present = observed.contains { $0.rbdPool == row.disk.rbdPool && $0.image == row.disk.rbdImageName }
            let step: DiskAttachments.Repair? = switch (row.attachment.status, present) {
            case (.attached, false): .attach(reason: "the domain lost the disk")
            case (.attaching, false): .attach(reason: "the attach was lost")
            case (.attaching, true): .settleAttached
            case (.detaching, true): .detach(reason: "the detach was lost")
            case (.detaching, false): .settleDetached
            default: nil
            }
            guard let step else { continue }
            do {
                try await attachments.repair(row.attachment.id, step, on: machineId, vmUuid: vmUuid, now: now)
                logger.notice("disk attachment reconciled", metadata: [
                    "attachment": "\(row.attachment.id)", "disk": "\(row.disk.id)", "step": "\(step)",
                ])
            } catch let error as DomainError where error.kind == .conflict || error.kind == .notFound {
                continue  // changed under us: the next pass looks again
            }
        }
        try await detachStrays(reports, explained: explained, freshness: freshness, now: now)
    }

    /// `disk.detach` for private data disks in Zedge domains that no attachment explains.
    func detachStrays(_ reports: HostReports, explained: Set<String>, freshness: TimeInterval, now: Date) async throws {
        for machineId in try await hosts.reachableMachineIds() {
            guard let beat = reports.latest(machineId), now.timeIntervalSince(beat.at) <= freshness else { continue }
            for vm in beat.observedVms where vm.vmName.hasPrefix("zedge-") {
                guard let vmUuid = UUID(uuidString: vm.vmUuid) else { continue }
                for disk in vm.disks ?? [] where disk.image.hasPrefix(PrivateDataDisk.imagePrefix) {
                    let key = Self.key(vmUuid, disk.rbdPool, disk.image)
                    guard !explained.contains(key),
                          let stray = try await attachments.strayDisk(image: disk.image, rbdPool: disk.rbdPool, reportedAt: beat.at),
                          orphans.shouldSend(key, now: now) else { continue }
                    if try await attachments.detachStray(stray, vmUuid: vmUuid, on: machineId, now: now) {
                        logger.notice("stray disk sent disk.detach", metadata: ["machine": "\(machineId)", "domain": "\(vm.vmName)",
                                                                               "image": "\(disk.rbdPool)/\(disk.image)"])
                    }
                }
            }
        }
    }

    static func key(_ vmUuid: UUID, _ pool: String, _ image: String) -> String {
        "\(vmUuid.uuidString.lowercased()) \(pool)/\(image)"
    }
}
