import Foundation
import ZedgeCore

/// Writes a command's result to stdout in the chosen `OutputFormat`.
public struct OutputPrinter: Sendable {
    public let format: OutputFormat
    private let write: @Sendable (String) -> Void

    public init(format: OutputFormat, write: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.format = format
        self.write = write
    }

    /// One object (`show`, `create`, `update`): json prints `raw` byte for byte; table and wide print one
    /// `FIELD  value` line per top-level field, the resource's columns first.
    public func object(_ value: JSONValue, raw: Data? = nil, columns: [Column] = []) throws {
        switch format {
        case .json:
            if let raw { write(String(decoding: raw, as: UTF8.self) + "\n") } else { write(try Self.pretty(value)) }
        case .yaml: write(try YAMLRenderer.render(value))
        case .table, .wide: write(Self.fields(value, columns: columns))
        }
    }

    /// A list: json prints `raw` (the page as the API sent it) or, without it, `{"items": […], "nextCursor": null}`.
    public func list(_ items: [JSONValue], raw: Data? = nil, columns: [Column], wideColumns: [Column]) throws {
        switch format {
        case .json:
            if let raw { write(String(decoding: raw, as: UTF8.self) + "\n") } else {
                write(try Self.pretty(.object(["items": .array(items), "nextCursor": .null])))
            }
        case .yaml: write(try YAMLRenderer.render(.object(["items": .array(items)])))
        case .table, .wide:
            let shown = format == .wide ? columns + wideColumns : columns
            write(TableRenderer.render(headers: shown.map(\.header), rows: items.map { item in shown.map { $0.cell(item) } }))
        }
    }

    /// A line of text (messages such as the technician's command), whatever the format.
    public func line(_ text: String) { write(text + "\n") }

    /// `show`'s table form.
    static func fields(_ value: JSONValue, columns: [Column]) -> String {
        guard let members = value.objectValue else { return ValueFormatter.cell(value) + "\n" }
        var order: [String] = []
        for column in columns where column.path.count == 1 && members[column.path[0]] != nil && !order.contains(column.path[0]) {
            order.append(column.path[0])
        }
        order += members.keys.sorted().filter { !order.contains($0) }
        return TableRenderer.renderFields(order.map { ($0, ValueFormatter.cell(members[$0])) })
    }

    static func pretty(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}
