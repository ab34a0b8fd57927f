import Synchronization
import ZedgeTransport

/// A graphics stream whose server side is followed through the RFB handshake: `onAuthenticated` runs once, on the
/// reading thread, when the client has passed VNC authentication (`RFBAuthenticationWatch`).
final class WatchedGraphicsStream: ByteStream, @unchecked Sendable {
    private let base: any ByteStream
    private let onAuthenticated: @Sendable () -> Void
    /// Read and changed on the reading thread only.
    private var watch = RFBAuthenticationWatch()

    init(_ base: any ByteStream, onAuthenticated: @escaping @Sendable () -> Void) {
        self.base = base
        self.onAuthenticated = onAuthenticated
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try base.read(into: buffer)
        if count > 0, watch.outcome == .pending, watch.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) == .authenticated {
            onAuthenticated()
        }
        return count
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws { try base.write(bytes) }
    func shutdown() { base.shutdown() }
}
