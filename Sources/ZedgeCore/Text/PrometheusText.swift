import Foundation

/// A Prometheus text exposition (format 0.0.4, as `/metrics` serves it) parsed into its samples, HELP and TYPE
/// lines, so that tests and `zedge-bench` read values by name and labels instead of matching the page's text.
public struct PrometheusText: Sendable {
    public struct Series: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public var labels: [String: String]
        public init(name: String, labels: [String: String]) {
            self.name = name
            self.labels = labels
        }
        public var description: String {
            name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
        }
    }

    /// A line that is not a comment, a HELP, a TYPE or a sample, or a series given twice.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public private(set) var samples: [Series: Double] = [:]
    public private(set) var help: [String: String] = [:]
    public private(set) var types: [String: String] = [:]

    /// Parses the page; a line that is not a comment, a HELP, a TYPE or a sample throws `ParseError` naming it.
    public init(_ text: String) throws {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ParseError("bad comment line: \(line)") }
                if line.hasPrefix("# HELP ") { help[parts[0]] = parts[1] } else { types[parts[0]] = parts[1] }
                continue
            }
            if line.hasPrefix("#") { continue }
            let (series, value) = try Self.sample(line)
            guard samples.updateValue(value, forKey: series) == nil else { throw ParseError("duplicate series: \(series)") }
        }
    }

    /// The value of one series; nil when the page does not have it.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[Series(name: name, labels: labels)]
    }

    /// Every series of `name` whose labels include `matching`, by their labels.
    public func series(_ name: String, matching: [String: String] = [:]) -> [[String: String]: Double] {
        var found: [[String: String]: Double] = [:]
        for (series, value) in samples where series.name == name && matching.allSatisfy({ series.labels[$0.key] == $0.value }) {
            found[series.labels] = value
        }
        return found
    }

    /// The sum over the series of `name` whose labels include `matching`.
    public func sum(_ name: String, matching: [String: String] = [:]) -> Double {
        series(name, matching: matching).values.reduce(0, +)
    }

    /// `name{a="x",b="y\"z"} 1.5` → the series and 1.5 (label values unescaped: `\\`, `\"`, `\n`).
    public static func sample(_ line: String) throws -> (Series, Double) {
        var chars = Array(line)[...]
        var name = ""
        while let c = chars.first, c != "{", c != " " { name.append(c); chars = chars.dropFirst() }
        var labels: [String: String] = [:]
        if chars.first == "{" {
            chars = chars.dropFirst()
            while let c = chars.first, c != "}" {
                if c == "," { chars = chars.dropFirst(); continue }
                var key = ""
                while let k = chars.first, k != "=" { key.append(k); chars = chars.dropFirst() }
                chars = chars.dropFirst()  // =
                guard chars.first == "\"" else { throw ParseError("bad label in: \(line)") }
                chars = chars.dropFirst()
                var value = ""
                while let v = chars.first, v != "\"" {
                    chars = chars.dropFirst()
                    if v == "\\", let escaped = chars.first {
                        chars = chars.dropFirst()
                        value.append(escaped == "n" ? "\n" : escaped)
                    } else {
                        value.append(v)
                    }
                }
                guard chars.first == "\"" else { throw ParseError("unterminated label value in: \(line)") }
                chars = chars.dropFirst()
                labels[key] = value
            }
            guard chars.first == "}" else { throw ParseError("unterminated labels in: \(line)") }
            chars = chars.dropFirst()
        }
        let rest = String(chars).trimmingCharacters(in: .whitespaces).split(separator: " ")
        guard let text = rest.first, let value = Double(text == "+Inf" ? "inf" : text == "-Inf" ? "-inf" : String(text)) else {
            throw ParseError("bad sample value in: \(line)")
        }
        return (Series(name: name, labels: labels), value)
    }
}
