/// Follows the server's side of an RFB handshake (RFC 6143 §7.1-7.2) to see when a client has authenticated with
/// VNC authentication: a CloudBox's ticket works once, so the agent rotates the password at that moment (issue #16;
/// libvirt 9 keeps sessions in progress across a password change only as `connected='keep'`).
///
/// Fed the bytes QEMU's VNC server sends, in order, in any chunks. The server's messages up to the result:
/// ProtocolVersion (12 bytes, `RFB 003.00x\n`); for 3.7 and 3.8 a count and that many security types, for 3.3 one
/// u32 type; with VNC authentication (type 2) a 16-byte challenge; then a u32 SecurityResult, 0 for OK. A value
/// type without I/O.
public struct RFBAuthenticationWatch: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Still in the handshake.
        case pending
        /// The client passed VNC authentication.
        case authenticated
        /// The handshake ended otherwise: refused, another security type, or not RFB.
        case other
    }

    enum Stage: Sendable, Equatable {
        case version
        case typeCount
        case types(left: Int)
        case type33
        case challenge
        case result
        case done(Outcome)
    }

    var stage: Stage = .version
    var buffer: [UInt8] = []
    /// Whether one of the security types read so far was VNC authentication.
    var offeredVNC = false

    public init() {}

    public var outcome: Outcome {
        if case .done(let outcome) = stage { return outcome }
        return .pending
    }

    /// Takes the next bytes from the server; returns the outcome so far.
    @discardableResult
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> Outcome {
        for byte in bytes {
            if case .done = stage { break }
            buffer.append(byte)
            step()
        }
        return outcome
    }

    private mutating func step() {
        switch stage {
        case .version:
            guard buffer.count == 12 else { return }
            let text = String(decoding: buffer, as: UTF8.self)
            buffer = []
            guard text.hasPrefix("RFB 003."), text.hasSuffix("\n"), let minor = Int(text.dropFirst(8).prefix(3)) else {
                stage = .done(.other)
                return
            }
            stage = minor >= 7 ? .typeCount : .type33
        case .typeCount:
            let count = Int(buffer[0])
            buffer = []
            stage = count == 0 ? .done(.other) : .types(left: count)
        case .types(let left):
            // QEMU with a password offers VNC authentication, and the client chooses it.
            if buffer[0] == 2 { offeredVNC = true }
            buffer = []
            stage = left > 1 ? .types(left: left - 1) : offeredVNC ? .challenge : .done(.other)
        case .type33:
            guard buffer.count == 4 else { return }
            let type = buffer.reduce(0) { $0 << 8 | UInt32($1) }
            buffer = []
            stage = type == 2 ? .challenge : .done(.other)
        case .challenge:
            guard buffer.count == 16 else { return }
            buffer = []
            stage = .result
        case .result:
            guard buffer.count == 4 else { return }
            stage = .done(buffer.allSatisfy { $0 == 0 } ? .authenticated : .other)
            buffer = []
        case .done:
            return
        }
    }
}
