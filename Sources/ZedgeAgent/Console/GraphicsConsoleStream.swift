import CLibvirt
#if canImport(Glibc)
import Glibc
#endif
import ZedgeTransport

/// A VM's graphics (its VNC server, RFC 6143) as a byte stream: a socket connected to QEMU's VNC server by
/// libvirt (`virDomainOpenGraphicsFD`, QEMU's `add_client`), whatever the graphics listen on. With `skipAuth`
/// the connection is authenticated already (the coordinator checked the console token); without it the client
/// must present the graphics password, as a CloudBox does with its ticket.
final class GraphicsConsoleStream: ByteStream, @unchecked Sendable {
    private let descriptor: Int32

    init(uri: String, uuid: String, skipAuth: Bool) throws {
        guard let connection = virConnectOpen(uri) else { throw LibvirtError.last("cannot connect to \(uri)") }
        defer { virConnectClose(connection) }
        guard let domain = virDomainLookupByUUIDString(connection, uuid) else { throw LibvirtError.last("no domain \(uuid)") }
        defer { virDomainFree(domain) }
        let flags = skipAuth ? UInt32(VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH.rawValue) : 0
        let fd = virDomainOpenGraphicsFD(domain, 0, flags)
        guard fd >= 0 else { throw LibvirtError.last("cannot open the graphics of \(uuid)") }
        descriptor = fd
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw LibvirtError(code: -1, message: "reading the graphics socket: errno \(errno)")
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = Glibc.write(descriptor, bytes.baseAddress!.advanced(by: offset), bytes.count - offset)
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { throw LibvirtError(code: -1, message: "writing to the graphics socket: errno \(errno)") }
            offset += sent
        }
    }

    func shutdown() {
        // Wakes a read blocked on the socket (close alone would not).
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }
}
