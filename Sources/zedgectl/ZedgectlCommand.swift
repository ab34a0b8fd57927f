import ArgumentParser
import ZedgeCore

/// The admin CLI. Its commands arrive with the issues that add the API they drive.
@main
struct ZedgectlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zedgectl",
        abstract: "Administer a Zedge coordinator (commands: not yet implemented; use the HTTP API).",
        version: ZedgeVersion.current)

    func run() throws {
        throw ValidationError("no commands yet: use the HTTP API (see /api/v1/openapi.json)")
    }
}
