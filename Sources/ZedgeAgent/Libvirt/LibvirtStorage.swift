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

/// Storage pools and volumes through libvirt's storage API (no qemu-img shell-outs in the agent; libvirtd
/// runs qemu-img itself for qcow2 volumes). Every call runs on the connection's serial queue; each operation
/// is one queued block, so a look-up and the create that follows cannot interleave with another operation.
public struct LibvirtStorage: Sendable {
    public let connection: LibvirtConnection

    public init(connection: LibvirtConnection) { self.connection = connection }

    /// A volume as created or found.
    public struct Volume: Sendable, Hashable {
        public var pool: String
        public var name: String
        /// The volume's path on the host.
        public var path: String
        /// False when the volume existed already (kept as it is).
        public var created: Bool
    }

    /// Makes sure a directory pool named `name` exists, is active and starts with libvirtd: defines it on `path`
    /// (built, started, autostart) when absent; starts (after a build) an inactive one. An existing pool is
    /// used where it is, even on another path (its target path is returned).
    @discardableResult
    public func ensureDirectoryPool(name: String, path: String) async throws -> String {
        let xml = """
        <pool type='dir'>
          <name>\(DomainXML.xmlEscape(name))</name>
          <target><path>\(DomainXML.xmlEscape(path))</path></target>
        </pool>
        """
        let isTestDriver = connection.uri.hasPrefix("test:")
        return try await connection.perform { conn in
            var pool = virStoragePoolLookupByName(conn, name)
            var built = false
            if pool == nil {
                let error = LibvirtError.last("looking up storage pool \(name) failed")
                guard error.code == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) else { throw error }
                var defined = virStoragePoolDefineXML(conn, xml, 0)
                if defined == nil, Self.releaseLegacyPool(conn, path: path, keeping: name) {
                    // The folder was another pool's: a Zedge pool of the name every agent shared before pools were
                    // per agent (`AgentLayout.diskPoolName`). Released (its files stay); define ours again.
                    defined = virStoragePoolDefineXML(conn, xml, 0)
                }
                guard let defined else {
                    throw LibvirtError.last("defining storage pool \(name) failed")
                }
                pool = defined
                if virStoragePoolBuild(defined, 0) != 0 {
                    let error = LibvirtError.last("building storage pool \(name) failed")
                    virStoragePoolUndefine(defined)
                    virStoragePoolFree(defined)
                    throw error
                }
                built = true
            }
            guard let pool else { throw LibvirtError(code: -1, message: "no storage pool \(name)") }
            defer { virStoragePoolFree(pool) }
            let target = Self.targetPath(pool) ?? path
            if virStoragePoolIsActive(pool) == 1, !isTestDriver, !FileManager.default.fileExists(atPath: target) {
                // Its folder went away underneath it (a test's temporary dir): stop it and build it again.
                virStoragePoolDestroy(pool)
            }
            if virStoragePoolIsActive(pool) != 1 {
                if !built, virStoragePoolBuild(pool, 0) != 0 {
                    let error = LibvirtError.last("building storage pool \(name) failed")
                    if !error.isUnsupported { throw error }
                }
                if virStoragePoolCreate(pool, 0) != 0 {
                    let error = LibvirtError.last("starting storage pool \(name) failed")
                    if virStoragePoolIsActive(pool) != 1 { throw error }
                }
            }
            var autostart: Int32 = 0
            if virStoragePoolGetAutostart(pool, &autostart) == 0, autostart == 0, virStoragePoolSetAutostart(pool, 1) != 0 {
                virResetLastError()  // The test driver may not keep autostart; the pool still works.
            }
            return target
        }
    }

    /// Stops and undefines a pool named "zedge-disks…" (not `keeping`) whose target is `path`, leaving its files;
    /// true when there was one. Any other pool on the folder is left alone (and the define fails, saying so).
    static func releaseLegacyPool(_ conn: OpaquePointer, path: String, keeping name: String) -> Bool {
        virResetLastError()
        var pools: UnsafeMutablePointer<OpaquePointer?>?
        let count = virConnectListAllStoragePools(conn, &pools, 0)
        guard count > 0, let pools else { return false }
        defer {
            for index in 0..<Int(count) { if let pool = pools[index] { virStoragePoolFree(pool) } }
            free(pools)
        }
        for index in 0..<Int(count) {
            guard let pool = pools[index], let cName = virStoragePoolGetName(pool) else { continue }
            let other = String(cString: cName)
            guard other != name, other.hasPrefix(VmSpec.diskPool), targetPath(pool) == path else { continue }
            if virStoragePoolIsActive(pool) == 1 { virStoragePoolDestroy(pool) }
            return virStoragePoolUndefine(pool) == 0
        }
        return false
    }

    /// Creates a qcow2 overlay volume `name` in `pool` backed by the file at `backingPath` (format
    /// `backingFormat`), `capacityBytes` big; an existing volume of that name is kept as it is (idempotent).
    public func ensureOverlay(pool: String, name: String, backingPath: String, backingFormat: DiskFormat,
                              capacityBytes: Int64) async throws -> Volume {
        let xml = """
        <volume type='file'>
          <name>\(DomainXML.xmlEscape(name))</name>
          <capacity unit='bytes'>\(capacityBytes)</capacity>
          <target>
            <format type='qcow2'/>
            <permissions><mode>0600</mode></permissions>
          </target>
          <backingStore>
            <path>\(DomainXML.xmlEscape(backingPath))</path>
            <format type='\(DomainXML.xmlEscape(backingFormat.rawValue))'/>
          </backingStore>
        </volume>
        """
        return try await createVolume(pool: pool, name: name, xml: xml)
    }

    /// Creates a plain volume (`format` raw or qcow2, `capacityBytes` big) unless one of that name exists.
    public func ensureVolume(pool: String, name: String, format: DiskFormat, capacityBytes: Int64) async throws -> Volume {
        let xml = """
        <volume type='file'>
          <name>\(DomainXML.xmlEscape(name))</name>
          <capacity unit='bytes'>\(capacityBytes)</capacity>
          <target><format type='\(DomainXML.xmlEscape(format.rawValue))'/></target>
        </volume>
        """
        return try await createVolume(pool: pool, name: name, xml: xml)
    }

    private func createVolume(pool poolName: String, name: String, xml: String) async throws -> Volume {
        try await connection.perform { conn in
            let pool = try Self.requirePool(conn, poolName)
            defer { virStoragePoolFree(pool) }
            if let existing = try Self.lookupVolume(pool, name, refresh: true) {
                defer { virStorageVolFree(existing) }
                return Volume(pool: poolName, name: name, path: try Self.path(existing), created: false)
            }
            guard let vol = virStorageVolCreateXML(pool, xml, 0) else {
                throw LibvirtError.last("creating volume \(name) in pool \(poolName) failed")
            }
            defer { virStorageVolFree(vol) }
            return Volume(pool: poolName, name: name, path: try Self.path(vol), created: true)
        }
    }

    /// Deletes volume `name` from `pool`; an absent volume or pool is success.
    public func deleteVolume(pool poolName: String, name: String) async throws {
        try await connection.perform { conn in
            guard let pool = virStoragePoolLookupByName(conn, poolName) else {
                let error = LibvirtError.last("looking up storage pool \(poolName) failed")
                if error.code == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) { return }
                throw error
            }
            defer { virStoragePoolFree(pool) }
            guard let vol = try Self.lookupVolume(pool, name, refresh: true) else { return }
            defer { virStorageVolFree(vol) }
            if virStorageVolDelete(vol, 0) != 0 {
                let error = LibvirtError.last("deleting volume \(name) failed")
                if error.code != Int32(VIR_ERR_NO_STORAGE_VOL.rawValue) { throw error }
            }
        }
    }

    /// The volume's XML description (`virStorageVolGetXMLDesc`), or nil when there is no such volume.
    public func volumeXML(pool poolName: String, name: String) async throws -> String? {
        try await connection.perform { conn in
            let pool = try Self.requirePool(conn, poolName)
            defer { virStoragePoolFree(pool) }
            guard let vol = try Self.lookupVolume(pool, name, refresh: false) else { return nil }
            defer { virStorageVolFree(vol) }
            guard let text = virStorageVolGetXMLDesc(vol, 0) else { throw LibvirtError.last("reading volume \(name) failed") }
            defer { free(text) }
            return String(cString: text)
        }
    }

    /// The backing-store paths of every volume in `pool` (an absent pool has none).
    public func backingPaths(pool poolName: String) async throws -> [String] {
        try await connection.perform { conn in
            guard let pool = virStoragePoolLookupByName(conn, poolName) else {
                let error = LibvirtError.last("looking up storage pool \(poolName) failed")
                if error.code == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) { return [] }
                throw error
            }
            defer { virStoragePoolFree(pool) }
            guard virStoragePoolIsActive(pool) == 1 else { return [] }
            var volumes: UnsafeMutablePointer<virStorageVolPtr?>? = nil
            let count = virStoragePoolListAllVolumes(pool, &volumes, 0)
            guard count >= 0 else { throw LibvirtError.last("listing the volumes of \(poolName) failed") }
            defer {
                for i in 0..<Int(count) { if let v = volumes?[i] { virStorageVolFree(v) } }
                free(volumes)
            }
            var paths: [String] = []
            for i in 0..<Int(count) {
                guard let vol = volumes?[i], let text = virStorageVolGetXMLDesc(vol, 0) else { virResetLastError(); continue }
                defer { free(text) }
                if let path = Self.backingPath(inVolumeXML: String(cString: text)) { paths.append(path) }
            }
            return paths
        }
    }

    /// The `<backingStore><path>` of a volume's XML (entities decoded), or nil.
    public static func backingPath(inVolumeXML xml: String) -> String? {
        guard let store = xml.firstRange(of: "<backingStore>"), let end = xml[store.upperBound...].firstRange(of: "</backingStore>"),
              let open = xml[store.upperBound..<end.lowerBound].firstRange(of: "<path>"),
              let close = xml[open.upperBound..<end.lowerBound].firstRange(of: "</path>")
        else { return nil }
        return xmlUnescape(String(xml[open.upperBound..<close.lowerBound]))
    }

    static func xmlUnescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = s
        for (entity, text) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&apos;", "'"), ("&#9;", "\t"), ("&#10;", "\n"), ("&#13;", "\r"), ("&amp;", "&")] {
            out = out.replacing(entity, with: text)
        }
        return out
    }

    // MARK: On the connection's queue

    private static func requirePool(_ conn: OpaquePointer, _ name: String) throws -> OpaquePointer {
        guard let pool = virStoragePoolLookupByName(conn, name) else {
            throw LibvirtError.last("storage pool \(name) does not exist")
        }
        return pool
    }

    /// The volume, or nil; with `refresh`, a miss refreshes the pool once (a file created behind libvirt's back,
    /// or before a libvirtd restart, is then seen instead of being overwritten).
    private static func lookupVolume(_ pool: OpaquePointer, _ name: String, refresh: Bool) throws -> OpaquePointer? {
        if let vol = virStorageVolLookupByName(pool, name) { return vol }
        var error = LibvirtError.last("looking up volume \(name) failed")
        guard error.code == Int32(VIR_ERR_NO_STORAGE_VOL.rawValue) else { throw error }
        guard refresh else { return nil }
        if virStoragePoolRefresh(pool, 0) != 0 { virResetLastError() }
        if let vol = virStorageVolLookupByName(pool, name) { return vol }
        error = LibvirtError.last("looking up volume \(name) failed")
        guard error.code == Int32(VIR_ERR_NO_STORAGE_VOL.rawValue) else { throw error }
        return nil
    }

    private static func path(_ vol: OpaquePointer) throws -> String {
        guard let p = virStorageVolGetPath(vol) else { throw LibvirtError.last("reading a volume's path failed") }
        defer { free(p) }
        return String(cString: p)
    }

    private static func targetPath(_ pool: OpaquePointer) -> String? {
        guard let text = virStoragePoolGetXMLDesc(pool, 0) else { virResetLastError(); return nil }
        defer { free(text) }
        let xml = String(cString: text)
        guard let target = xml.firstRange(of: "<target>"), let open = xml[target.upperBound...].firstRange(of: "<path>"),
              let close = xml[open.upperBound...].firstRange(of: "</path>") else { return nil }
        return xmlUnescape(String(xml[open.upperBound..<close.lowerBound]))
    }
}
