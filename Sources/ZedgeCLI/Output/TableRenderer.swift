/// Renders rows as kubectl does: upper-case headers, columns left-aligned and separated by three spaces, no
/// borders; trailing spaces trimmed. Width counts Characters (no East Asian width handling).
public enum TableRenderer {
    public static func render(headers: [String], rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                let isLast = index == cells.count - 1
                text += isLast ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 3)
            }
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        return ([line(headers.map { $0.uppercased() })] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// `show`: one `FIELD   value` line per field, in the given order.
    public static func renderFields(_ fields: [(String, String)]) -> String {
        let width = fields.map(\.0.count).max() ?? 0
        return fields.map { name, value in
            var text = name + String(repeating: " ", count: width - name.count + 3) + value
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }.joined(separator: "\n") + "\n"
    }
}
