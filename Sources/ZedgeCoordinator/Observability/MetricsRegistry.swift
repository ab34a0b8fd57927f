import Logging
import Prometheus

/// The coordinator's Prometheus registry (swift-prometheus) and what writes into it: this replica's own counters
/// (`ReplicaMetrics`) and, when given a census, the fleet-wide gauges read from the database (`FleetGauges`).
/// Every metric is made through the registry with its `# HELP` text (swift-metrics' factory has no help text,
/// and the registry refuses one name with two help texts).
public struct MetricsRegistry: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let replica: ReplicaMetrics
    public let fleet: FleetGauges?
    public let sqliteWriter: SQLiteWriterMetrics?

    /// Without `census`, only this replica's own metrics (tests of one component); with `sqliteWriterUse`, SQLite's
    /// writer too (`SQLiteWriterMetrics`).
    public init(census: (any FleetCensusRepository)? = nil, maxAge: Duration = .seconds(5),
                sqliteWriterUse: (@Sendable () -> SQLiteWriterUse?)? = nil, logger: Logger = Logger(label: "zedge.metrics")) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        replica = ReplicaMetrics(registry: registry)
        fleet = census.map { FleetGauges(census: $0, registry: registry, maxAge: maxAge, logger: logger) }
        sqliteWriter = sqliteWriterUse.map { SQLiteWriterMetrics(registry: registry, read: $0) }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, the fleet gauges refreshed first when
    /// their census is older than `maxAge`.
    public func exposition() async -> [UInt8] {
        await fleet?.refreshIfStale()
        sqliteWriter?.refresh()
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
