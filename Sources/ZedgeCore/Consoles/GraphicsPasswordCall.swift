#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `vm.graphics-password`: set a running VM's graphics password (a CloudBox binding's ticket, valid until the
/// binding expires), or rotate it to one nobody knows (`password` nil: the agent draws it), and close the listed
/// console tunnels of the VM. A rotation changes the password only while the VM holds the ticket of one of
/// `endSessions` (or of no session the agent knows): the one for an old binding never undoes a newer binding's
/// ticket, whichever reaches the host first. The password is secret: never in `description`, and the call's row
/// is deleted once answered.
public struct GraphicsPasswordCall: Codable, Sendable, Hashable, CustomStringConvertible {
    public var vmUuid: UUID
    public var vmName: String
    /// At most 8 printable ASCII characters (VNC's authentication reads 8); nil to rotate to a random one. Secret.
    public var password: String?
    /// When the password stops working (QEMU checks); nil for never.
    public var validUntil: Date?
    /// Console sessions of this VM whose tunnels the agent closes now.
    public var endSessions: [UUID]
    /// The console session whose ticket `password` is (a CloudBox binding's); nil for a rotation.
    public var sessionId: UUID?

    public init(vmUuid: UUID, vmName: String, password: String?, validUntil: Date?, endSessions: [UUID] = [], sessionId: UUID? = nil) {
        self.vmUuid = vmUuid
        self.sessionId = sessionId
        self.vmName = vmName
        self.password = password
        self.validUntil = validUntil
        self.endSessions = endSessions
    }

    public var description: String {
        "GraphicsPasswordCall(vm: \(vmName), password: \(password == nil ? "random" : "<redacted>"), endSessions: \(endSessions.count))"
    }
}
