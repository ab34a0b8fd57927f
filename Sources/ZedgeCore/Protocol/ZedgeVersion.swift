/// The version every Zedge binary reports.
public enum ZedgeVersion {
    public static let current = "0.1.0"
}
