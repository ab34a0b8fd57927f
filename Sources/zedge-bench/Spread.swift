/// Repeated measurements of one figure (µs per body, MiB/s, …): what the harnesses report of them, min / median /
/// max (the median of an even count is the upper middle value).
struct Spread {
    var values: [Double]

    var median: Double { values.sorted()[values.count / 2] }
    var min: Double { values.min() ?? 0 }
    var max: Double { values.max() ?? 0 }
}
