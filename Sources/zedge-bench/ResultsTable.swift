import Foundation

/// The report: one row per figure, with the coordinator's value, the bare server's, and their ratio.
struct ResultsTable {
    struct Row {
        var phase: String
        var metric: String
        var zedge: Double?
        var bare: Double?
        /// Decimal places.
        var places: Int
        var withRatio: Bool = true
    }

    let zedge: TargetResults?
    let bare: TargetResults?
    let options: RunOptions

    var rows: [Row] {
        func row(_ phase: String, _ metric: String, places: Int = 1, ratio: Bool = true, _ value: (TargetResults) -> Double?) -> Row {
            Row(phase: phase, metric: metric, zedge: zedge.flatMap(value), bare: bare.flatMap(value), places: places, withRatio: ratio)
        }
        func usage(_ phase: String, memory: Bool, _ pick: @escaping (TargetResults) -> PhaseUsage?) -> [Row] {
            var rows = [
                row(phase, "server CPU, % of one core") { pick($0)?.serverCPUPercent },
                row(phase, "harness CPU, % of one core", ratio: false) { pick($0)?.harnessCPUPercent },
                row(phase, "other processes' CPU, % of one core", ratio: false) { pick($0)?.otherCPUPercent },
            ]
            if memory {
                rows.append(row(phase, "server RSS, MiB (VmRSS)") { pick($0)?.serverResidentMiB })
                rows.append(row(phase, "server peak RSS, MiB (VmHWM)") { pick($0)?.serverPeakResidentMiB })
                rows.append(row(phase, "server anonymous RSS, MiB (RssAnon)") { pick($0)?.serverAnonymousMiB })
            }
            return rows
        }
        let register = "(a) register"
        let sustained = "(b) heartbeats, every \(options.interval) s"
        let saturation = "(b) saturation, \(options.concurrency) in flight"
        let wake = "(c) long-poll wake"
        return [
            row(register, "agents registered", places: 0, ratio: false) { Double($0.registration.registered) },
            row(register, "registrations/s") { $0.registration.perSecond },
            row(register, "errors", places: 0, ratio: false) { Double($0.registration.errors) },
        ] + usage(register, memory: false) { $0.registration.usage } + [
            row(sustained, "offered heartbeats/s", ratio: false) { $0.sustained.offeredPerSecond },
            row(sustained, "achieved heartbeats/s") { $0.sustained.achievedPerSecond },
            row(sustained, "errors", places: 0, ratio: false) { Double($0.sustained.errors) },
            row(sustained, "latency p50, ms", places: 2) { $0.sustained.p50 },
            row(sustained, "latency p99, ms", places: 2) { $0.sustained.p99 },
        ] + usage(sustained, memory: true) { $0.sustained.usage } + [
            row(saturation, "max heartbeats/s") { $0.saturation.achievedPerSecond },
            row(saturation, "errors", places: 0, ratio: false) { Double($0.saturation.errors) },
            row(saturation, "latency p50, ms", places: 2) { $0.saturation.p50 },
            row(saturation, "latency p99, ms", places: 2) { $0.saturation.p99 },
        ] + usage(saturation, memory: false) { $0.saturation.usage } + [
            row(wake, "long-polls held", places: 0, ratio: false) { Double($0.wake.held) },
            row(wake, "samples (misses)", places: 0, ratio: false) { Double($0.wake.samples) },
            row(wake, "wake latency p50, ms", places: 2) { $0.wake.p50 },
            row(wake, "wake latency p99, ms", places: 2) { $0.wake.p99 },
            row(wake, "enqueue request p50, ms", places: 2) { $0.wake.enqueueP50 },
            row(wake, "poll + heartbeat errors", places: 0, ratio: false) { Double($0.wake.pollErrors + $0.wake.heartbeatErrors) },
        ] + usage(wake, memory: true) { $0.wake.usage } + [
            row(wake, "server RSS per held poll, KiB (growth ÷ polls)", places: 1) { $0.wake.residentPerHeldPollKiB },
            row(wake, "connections opened in the phase (polls and others)", places: 0, ratio: false) { $0.wake.newConnections.map(Double.init) },
            row(wake, "server RSS per new connection, KiB (growth ÷ connections)", places: 1) { $0.wake.residentPerNewConnectionKiB },
        ]
    }

    func render() -> String {
        let header = ["phase", "figure", "zedge", "bare", "zedge/bare"]
        var table: [[String]] = [header]
        for row in rows {
            var zedgeText = Self.format(row.zedge, places: row.places)
            var bareText = Self.format(row.bare, places: row.places)
            if row.metric == "samples (misses)" {
                zedgeText += zedge.map { " (\($0.wake.misses))" } ?? ""
                bareText += bare.map { " (\($0.wake.misses))" } ?? ""
            }
            let ratio = row.withRatio ? Self.ratio(row.zedge, row.bare) : ""
            table.append([row.phase, row.metric, zedgeText, bareText, ratio])
        }
        return (Self.layout(table) + notes).joined(separator: "\n")
    }

    /// Rows of cells as aligned text lines: the first row a header underlined, the first two columns
    /// left-aligned (names), the rest right-aligned (figures).
    static func layout(_ table: [[String]]) -> [String] {
        guard let header = table.first else { return [] }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                column < 2 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: " | ")
        }
        return [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-")] + table.dropFirst().map(line)
    }

    /// What failed, in words.
    var notes: [String] {
        var notes: [String] = []
        for (name, results) in [("zedge", zedge), ("bare", bare)] {
            guard let results else { continue }
            let summaries: [(String, String?)] = [
                ("registration", results.registration.errorSummary), ("sustained heartbeats", results.sustained.errorSummary),
                ("saturation", results.saturation.errorSummary), ("wake samples", results.wake.missSummary),
                ("long-polls", results.wake.pollErrorSummary),
            ]
            for case let (phase, summary?) in summaries { notes.append("\(name) \(phase) errors: \(summary)") }
        }
        return notes.isEmpty ? [] : [""] + notes
    }

    /// `a / b` to two places; empty when either is missing or `b` is 0.
    static func ratio(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b, b != 0 else { return "" }
        return String(format: "%.2f", a / b)
    }

    static func format(_ value: Double?, places: Int) -> String {
        guard let value else { return "–" }
        return String(format: "%.\(places)f", value)
    }
}
