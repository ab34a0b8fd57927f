import ArgumentParser
import Foundation

/// The coordinator a harness runs against: its binary and its database (`@OptionGroup` in each command).
struct CoordinatorOptions: ParsableArguments {
    @Option(help: "The zedge-coordinator binary (default: the one beside zedge-bench).")
    var coordinator: String?
    @Option(help: "The coordinator's database URL (default: SQLite in its temporary data dir).")
    var database: String?

    /// `--coordinator`, or `zedge-coordinator` beside this harness's own binary.
    var coordinatorPath: String {
        coordinator ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("zedge-coordinator").path
    }

    /// The database's kind in words, for a run's header: "PostgreSQL", "SQLite" or the URL as given.
    var storeName: String {
        database.map { $0.hasPrefix("postgres") ? "PostgreSQL" : $0 } ?? "SQLite"
    }
}
