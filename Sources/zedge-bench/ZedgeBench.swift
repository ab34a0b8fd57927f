import ArgumentParser
import ZedgeCore

/// `zedge-bench`: load harnesses for Zedge (`make bench`). Each harness is a subcommand; `agents` is the
/// default; `creates` measures instance creates through the API; `reconciler` the reconciler's passes over many
/// instances and what they cost the API; `replicas` the long-poll wake across two replicas; `placement` times the pure placement engine; `image-fetch` an agent's image download against curl's.
@main
struct ZedgeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zedge-bench",
        abstract: "Load harnesses for Zedge: simulated agents against a real coordinator, beside a bare Hummingbird ceiling.",
        version: ZedgeVersion.current,
        subcommands: [AgentsBenchmark.self, CreatesBenchmark.self, ReconcilerBenchmark.self, ReplicasBenchmark.self, PlacementBenchmark.self, DecodeBenchmark.self, ImageFetchBenchmark.self, BareServerCommand.self],
        defaultSubcommand: AgentsBenchmark.self)
}
