import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ZedgeTransport

/// A connected socket as a `ByteStream`.
class DescriptorStream: ByteStream, @unchecked Sendable {
    let descriptor: Int32
    init(_ descriptor: Int32) { self.descriptor = descriptor }
    deinit { Glibc.close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
        guard count >= 0 else { throw TestFailure("read: errno \(errno)") }
        return count
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            guard sent > 0 else { throw TestFailure("write: errno \(errno)") }
            offset += sent
        }
    }

    func shutdown() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
}
