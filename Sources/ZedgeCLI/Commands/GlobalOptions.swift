import ArgumentParser
import Foundation

/// Options every command that talks to a coordinator takes.
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("context"), help: "The context (coordinator) to use instead of the current one.")
    public var context: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: table, wide, json or yaml.")
    public var output: OutputFormat = .table

    public init() {}

    /// The coordinator, its pinned CA and token (context, or ZEDGE_URL / ZEDGE_TOKEN / ZEDGE_CA_HASH).
    func session() async throws -> Session {
        try await Session.resolve(contextOverride: context, store: .standard())
    }

    var printer: OutputPrinter { OutputPrinter(format: output) }
}

/// `--wait`, on every command that starts an asynchronous operation (202 + Operation).
public struct WaitOptions: ParsableArguments, Sendable {
    @Flag(help: "Wait for the operation to end, showing its step and percent; exit non-zero if it FAILED.")
    public var wait = false

    @Option(help: "With --wait: seconds between polls of the operation.")
    public var pollInterval: Double = 0.5

    public init() {}
}
