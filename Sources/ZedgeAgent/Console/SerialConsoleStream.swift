import CLibvirt
#if canImport(Glibc)
import Glibc
#endif
import ZedgeTransport

/// A VM's first serial console as a byte stream, through libvirt (`virDomainOpenConsole` on a stream of its own,
/// what `virsh console` uses): no pty path to find, and libvirt's console lock. `VIR_DOMAIN_CONSOLE_FORCE` takes
/// the console from a session that holds it, so the newest session wins and the older one sees its end.
///
/// Blocking and thread-safe as libvirt's connections are: the relay reads on one thread and writes on another.
/// The stream has a libvirt connection of its own, so a read that waits never holds the agent's other calls.
final class SerialConsoleStream: ByteStream, @unchecked Sendable {
    private let connection: OpaquePointer
    private let domain: OpaquePointer
    private let stream: OpaquePointer

    /// Opens the console of the domain with `uuid`; throws `LibvirtError` (no such domain, not running, ...).
    init(uri: String, uuid: String) throws {
        guard let connection = virConnectOpen(uri) else { throw LibvirtError.last("cannot connect to \(uri)") }
        guard let domain = virDomainLookupByUUIDString(connection, uuid) else {
            let error = LibvirtError.last("no domain \(uuid)")
            virConnectClose(connection)
            throw error
        }
        guard let stream = virStreamNew(connection, 0) else {
            let error = LibvirtError.last("virStreamNew failed")
            virDomainFree(domain)
            virConnectClose(connection)
            throw error
        }
        guard virDomainOpenConsole(domain, nil, stream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) == 0 else {
            let error = LibvirtError.last("cannot open the console of \(uuid)")
            virStreamFree(stream)
            virDomainFree(domain)
            virConnectClose(connection)
            throw error
        }
        self.connection = connection
        self.domain = domain
        self.stream = stream
    }

    deinit {
        virStreamFree(stream)
        virDomainFree(domain)
        virConnectClose(connection)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = virStreamRecv(stream, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count)
        guard count >= 0 else { throw LibvirtError.last("reading the console failed") }
        return Int(count)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = virStreamSend(stream, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), bytes.count - offset)
            guard sent > 0 else { throw LibvirtError.last("writing to the console failed") }
            offset += Int(sent)
        }
    }

    func shutdown() {
        // Ends the stream on libvirtd's side too, which frees the console for the next session.
        _ = virStreamAbort(stream)
    }
}
