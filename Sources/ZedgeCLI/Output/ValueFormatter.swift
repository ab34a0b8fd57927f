import Foundation
import ZedgeCore

/// How a JSON value looks in a table cell: strings as they are, integers without a decimal point, fractions with
/// at most two decimals, null and absent as "", arrays and objects as compact JSON (sorted keys); newlines folded
/// so a row stays one line.
public enum ValueFormatter {
    public static func cell(_ value: JSONValue?) -> String {
        guard let value else { return "" }
        switch value {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return s.replacingOccurrences(of: "\n", with: "\\n")
        case .number(let d): return d.rounded() == d ? number(d) : rounded(d)
        case .array, .object:
            let data = (try? APIClient.encode(value)) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// A fraction in a cell: at most two decimals (`18.166207` → `18.17`); -o json and yaml keep every digit.
    static func rounded(_ d: Double) -> String {
        var text = String(format: "%.2f", d)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// `3` rather than `3.0`; other numbers as Swift prints a Double.
    public static func number(_ d: Double) -> String {
        if d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}
