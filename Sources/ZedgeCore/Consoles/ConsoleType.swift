/// What a console session shows (issue #16): the VM's graphics over VNC's RFB protocol (RFC 6143), or its first
/// serial port as a byte stream. Lower-case, as Nova's `remote-consoles` protocol names are.
public enum ConsoleType: String, ZedgeEnum {
    case vnc
    case serial
}
