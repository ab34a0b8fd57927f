/// One end of a relay that `CurlWebSocket.relay(_:)` connects to a WebSocket: the VM's serial console or
/// graphics socket on a host, a terminal in `zedgectl`. Every call blocks; the relay runs reads on a thread of
/// their own and writes on its own thread, never on Swift's cooperative pool.
public protocol ByteStream: AnyObject, Sendable {
    /// Waits until bytes arrive and copies up to `buffer.count` of them; returns how many, 0 at the end of the
    /// stream. Throws when the stream failed (which ends the relay as the end of the stream does).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Writes all of `bytes`, waiting as long as it takes.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Ends the stream at once: a `read` blocked in another thread returns (0 or a throw), and later calls fail.
    /// Called once, when the relay ends.
    func shutdown()
}
