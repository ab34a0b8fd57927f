/// Passwords for VM graphics (issue #16): the agent's at define and rotation, a CloudBox binding's ticket. VNC's authentication (RFC 6143 §7.2.2) uses at most 8 characters, so a
/// password is 8 characters drawn from 62 letters and digits (about 47.6 bits) by the system's generator. What
/// protects a console is the tunnel's single-use token and the password's rotation; the password only closes QEMU's
/// own socket to anyone on the host who could reach it.
public enum GraphicsPassword {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// A new random password nobody knows.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
