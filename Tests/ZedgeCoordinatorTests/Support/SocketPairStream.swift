import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ZedgeTestSupport
import ZedgeTransport

/// A real byte stream for a WebSocket relay in tests: one end of a UNIX socket pair is the `ByteStream`, the
/// test reads and writes the other (`peer`) with deadlines.
///
/// The waits are async and block a thread of their own, never the cooperative pool: it has as many threads as
/// cores (2 here), and the in-process coordinator splices the tunnel on it. A wait that blocked a pool thread for
/// its 60 s, beside another test's, starved the splice it was waiting for (a 1 MiB burst stopped after 32 KiB;
/// a guest's shell "did not answer").
final class SocketPairStream: DescriptorStream, @unchecked Sendable {
    let peer: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw TestFailure("socketpair: errno \(errno)") }
        peer = fds[1]
        super.init(fds[0])
    }

    deinit { close(peer) }

    /// Writes `text` into the stream from the test's side.
    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(peer, $0.baseAddress, $0.count) }
    }

    /// What the test's side reads until `predicate` holds on all of it, or `seconds` pass (then what came).
    func receive(within seconds: Double = 20, until predicate: @escaping @Sendable (String) -> Bool) async -> String {
        await offThePool { self.receiveBlocking(within: seconds, until: predicate) }
    }

    private func receiveBlocking(within seconds: Double, until predicate: (String) -> Bool) -> String {
        var text = Data()
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline, !predicate(String(decoding: text, as: UTF8.self)) {
            var fd = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 200) > 0 else { continue }
            let count = Glibc.read(peer, &buffer, buffer.count)
            if count <= 0 { break }
            text.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Exactly `count` bytes from the test's side, or what came before `seconds` passed. Linear in `count`: the
    /// predicate form above decodes everything it holds after each read, and a 1 MiB burst read that way took
    /// more than a minute on a loaded CI machine.
    func receive(bytes count: Int, within seconds: Double = 20) async -> [UInt8] {
        await offThePool { self.receiveBlocking(bytes: count, within: seconds) }
    }

    private func receiveBlocking(bytes count: Int, within seconds: Double) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count < count, Date() < deadline {
            var fd = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 200) > 0 else { continue }
            let read = Glibc.read(peer, &buffer, min(buffer.count, count - bytes.count))
            if read <= 0 { break }
            bytes += buffer[0..<read]
        }
        return bytes
    }

    /// Ends what the stream reads (as standard input at /dev/null would): the test's side shuts its writes down.
    func endInput() {
        _ = Glibc.shutdown(peer, Int32(SHUT_WR))
    }

    /// True once the stream's side was shut down or closed (the test's side reads the end).
    func peerSeesEnd(within seconds: Double = 20) async -> Bool {
        await offThePool { self.peerSeesEndBlocking(within: seconds) }
    }

    private func peerSeesEndBlocking(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var fd = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 200) > 0 else { continue }
            if Glibc.read(peer, &buffer, buffer.count) <= 0 { return true }
        }
        return false
    }
}
