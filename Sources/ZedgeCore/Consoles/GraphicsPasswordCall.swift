#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `vm.graphics-password`: set a running VM's graphics password (a CloudBox binding's ticket, valid until the
/// binding expires), or rotate it to one nobody knows (`password` nil: the agent draws it), and close the listed
/// console tunnels of the VM. The password is secret: never in `description`, and the call's row is deleted once
/// answered.
public struct GraphicsPasswordCall: Codable, Sendable, Hashable, CustomStringConvertible {
    public var vmUuid: UUID
    public var vmName: String
    /// At most 8 printable ASCII characters (VNC's authentication reads 8); nil to rotate to a random one. Secret.
    public var password: String?
    /// When the password stops working (QEMU checks); nil for never.
    public var validUntil: Date?
    /// Console sessions of this VM whose tunnels the agent closes now.
    public var endSessions: [UUID]

    public init(vmUuid: UUID, vmName: String, password: String?, validUntil: Date?, endSessions: [UUID] = []) {
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.password = password
        self.validUntil = validUntil
        self.endSessions = endSessions
    }

    public var description: String {
        "GraphicsPasswordCall(vm: \(vmName), password: \(password == nil ? "random" : "<redacted>"), endSessions: \(endSessions.count))"
    }
}
