import CLibvirt
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

/// RBD data disks on domains: hot-plug, unplug and online resize (libvirt docs: virDomainAttachDeviceFlags,
/// virDomainDetachDeviceFlags, virDomainBlockResize). Each operation reads the domain's persistent and live
/// XML first, so that a task delivered twice changes nothing the second time.
extension LibvirtHypervisor {
    public func attachDisk(uuid: UUID, source: DiskSource, serial: String?, readOnly: Bool, shareable: Bool) async throws -> AttachedDisk {
        guard case .rbd(let rbdPool, let image, _, _, _) = source else {
            throw ValidationFailure(FieldError(field: "source", message: "must be an RBD image"))
        }
        return try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            let active = virDomainIsActive(dom) == 1
            let persistent = virDomainIsPersistent(dom) == 1
            let config = persistent ? try Self.disks(dom, live: false) : []
            let live = active ? try Self.disks(dom, live: true) : []
            let inConfig = config.first { $0.isRbd(pool: rbdPool, image: image) }
            let inLive = live.first { $0.isRbd(pool: rbdPool, image: image) }
            var flags: UInt32 = 0
            if persistent, inConfig == nil { flags |= VIR_DOMAIN_AFFECT_CONFIG.rawValue }
            if active, inLive == nil { flags |= VIR_DOMAIN_AFFECT_LIVE.rawValue }
            let existing = inLive ?? inConfig
            if flags == 0, let existing { return AttachedDisk(target: existing.target, live: active) }
            // libvirt and librbd let a second domain write an image another one holds: only shareable attachments
            // may share it (on this host; the coordinator counts attachments across hosts).
            let holders = try Self.otherDomains(conn, holding: rbdPool, image, besides: uuid)
                .filter { !(shareable && $0.shareable) }.map(\.name)
            if !holders.isEmpty {
                throw HypervisorError.diskAttachedElsewhere(disk: "\(rbdPool)/\(image)", domains: holders.sorted())
            }
            // The side that has it already keeps its target, if the other side has it free.
            let others = (config + live).filter { !$0.isRbd(pool: rbdPool, image: image) }
            let target: String
            if let existing, !others.contains(where: { $0.target == existing.target }) {
                target = existing.target
            } else {
                guard let free = DomainDisk.firstFreeVirtioTarget(besides: config + live) else {
                    throw HypervisorError.noFreeTarget(uuid: uuid.uuidString.lowercased())
                }
                target = free
            }
            let xml = DomainXML.renderDisk(DiskSpec(source: source, target: target, readOnly: readOnly, shareable: shareable,
                                                    format: .raw, serial: serial))
            if virDomainAttachDeviceFlags(dom, xml, flags) != 0 {
                throw LibvirtError.last("attaching RBD image \(rbdPool)/\(image) as \(target) failed")
            }
            return AttachedDisk(target: target, live: active)
        }
    }

    public func detachDisk(uuid: UUID, rbdPool: String, image: String) async throws {
        let waitForLive: Bool = try await connection.perform { conn in
            guard let dom = try Self.lookup(conn, uuid) else { return false }
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            let active = virDomainIsActive(dom) == 1
            let persistent = virDomainIsPersistent(dom) == 1
            let inConfig = persistent ? try Self.disks(dom, live: false).first { $0.isRbd(pool: rbdPool, image: image) } : nil
            let inLive = active ? try Self.disks(dom, live: true).first { $0.isRbd(pool: rbdPool, image: image) } : nil
            if let disk = inConfig, virDomainDetachDeviceFlags(dom, disk.xml, VIR_DOMAIN_AFFECT_CONFIG.rawValue) != 0 {
                throw LibvirtError.last("detaching RBD image \(rbdPool)/\(image) from the domain's definition failed")
            }
            guard let disk = inLive else { return false }
            if virDomainDetachDeviceFlags(dom, disk.xml, VIR_DOMAIN_AFFECT_LIVE.rawValue) != 0 {
                let error = LibvirtError.last("detaching RBD image \(rbdPool)/\(image) from the running domain failed")
                // Asked before (a repeated task) and still pending in the guest, or gone meanwhile: wait below.
                let pending = error.message.contains("in the process of unplug")
                if !pending, virDomainIsActive(dom) == 1,
                   try Self.disks(dom, live: true).contains(where: { $0.isRbd(pool: rbdPool, image: image) }) {
                    throw error
                }
            }
            return true
        }
        guard waitForLive else { return }
        // libvirt returns once QEMU has asked the guest; the disk is gone when the guest has let it go.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: detachTimeout)
        while true {
            let target: String? = try await connection.perform { conn in
                guard let dom = try Self.lookup(conn, uuid) else { return nil }
                defer { virDomainFree(dom) }
                guard virDomainIsActive(dom) == 1 else { return nil }
                return try Self.disks(dom, live: true).first { $0.isRbd(pool: rbdPool, image: image) }?.target
            }
            guard let target else { return }
            if clock.now >= deadline {
                let name = try await state(uuid: uuid)?.vmName ?? ""
                throw HypervisorError.detachTimedOut(uuid: uuid.uuidString.lowercased(), name: name, disk: "\(rbdPool)/\(image)",
                                                     target: target, seconds: Int(detachTimeout.components.seconds))
            }
            try await Task.sleep(for: min(pollInterval, clock.now.duration(to: deadline)))
        }
    }

    /// The domains on this host (other than `besides`) whose live or persistent definition has `rbdPool/image`,
    /// with whether every such disk of theirs is shareable. On the connection's queue.
    static func otherDomains(_ conn: OpaquePointer, holding rbdPool: String, _ image: String,
                             besides uuid: UUID?) throws -> [(name: String, shareable: Bool)] {
        var list: UnsafeMutablePointer<virDomainPtr?>? = nil
        let count = virConnectListAllDomains(conn, &list, 0)
        guard count >= 0 else { throw LibvirtError.last("listing domains failed") }
        defer {
            for i in 0..<Int(count) { if let d = list?[i] { virDomainFree(d) } }
            free(list)
        }
        var found: [(name: String, shareable: Bool)] = []
        for i in 0..<Int(count) {
            guard let dom = list?[i] else { continue }
            var buf = [CChar](repeating: 0, count: 64)
            guard virDomainGetUUIDString(dom, &buf) == 0 else { virResetLastError(); continue }
            let other = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if other == uuid?.uuidString.lowercased() { continue }
            var disks: [DomainDisk] = []
            do {
                if virDomainIsActive(dom) == 1 { disks += try Self.disks(dom, live: true) }
                if virDomainIsPersistent(dom) == 1 { disks += try Self.disks(dom, live: false) }
            } catch let e as LibvirtError where e.isNoDomain {
                continue  // undefined since the listing
            }
            let held = disks.filter { $0.isRbd(pool: rbdPool, image: image) }
            guard !held.isEmpty, let name = virDomainGetName(dom) else { continue }
            found.append((String(cString: name), held.allSatisfy(\.shareable)))
        }
        return found
    }

    public func blockResize(uuid: UUID, rbdPool: String, image: String, bytes: Int64) async throws -> Bool {
        try await connection.perform { conn in
            guard let dom = try Self.lookup(conn, uuid) else { return false }
            defer { virDomainFree(dom) }
            guard virDomainIsActive(dom) == 1 else { return false }
            try Self.requireManaged(dom)
            // A read-only device cannot be resized through QEMU ("can't resize empty or readonly disk"): the caller
            // grows the image through the storage API instead, and this guest sees the size when it next attaches it.
            guard let disk = try Self.disks(dom, live: true).first(where: { $0.isRbd(pool: rbdPool, image: image) }),
                  !disk.readOnly else { return false }
            // QEMU would shrink too: ask how large the running domain sees it first.
            var info = virDomainBlockInfo()
            guard virDomainGetBlockInfo(dom, disk.target, &info, 0) == 0 else {
                throw LibvirtError.last("reading the size of \(disk.target) (\(rbdPool)/\(image)) failed")
            }
            if info.capacity >= UInt64(bytes) { return true }
            if virDomainBlockResize(dom, disk.target, UInt64(bytes), VIR_DOMAIN_BLOCK_RESIZE_BYTES.rawValue) != 0 {
                throw LibvirtError.last("resizing \(disk.target) (\(rbdPool)/\(image)) to \(bytes) bytes failed")
            }
            return true
        }
    }
}
