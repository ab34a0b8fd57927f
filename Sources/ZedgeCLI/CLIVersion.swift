import ZedgeCore

/// zedgectl's version: the project's (`zedgectl --version`).
public enum CLIVersion {
    public static var current: String { ZedgeVersion.current }
}
