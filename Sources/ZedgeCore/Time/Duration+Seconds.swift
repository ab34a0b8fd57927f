extension Duration {
    /// The duration in seconds, as a `Double` (attosecond precision folded into the fraction): for rates,
    /// `TimeInterval`s and Prometheus gauges, which count seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
