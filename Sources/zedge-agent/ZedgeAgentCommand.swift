import ArgumentParser
import ZedgeCore

/// The Zedge agent. Enrollment, heartbeats and task execution arrive with the agent issue; for now the
/// binary exists so that packaging and the CLI contract (DESIGN §9) can be built against.
@main
struct ZedgeAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zedge-agent",
        abstract: "The Zedge agent for ComputeMachines and CloudBoxes (enrollment and task execution: not yet implemented).",
        version: ZedgeVersion.current)

    func run() throws {
        throw ValidationError("no subcommand yet: register and run arrive with the agent protocol")
    }
}
