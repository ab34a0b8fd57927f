import ZedgeCore

/// One column of a resource's table: its header and where its value is in the object
/// (`["operation", "status"]` for a nested field).
public struct Column: Sendable, Equatable {
    public var header: String
    public var path: [String]

    public init(_ header: String, _ path: String...) {
        self.header = header
        self.path = path
    }

    /// The value at `path`, formatted for a cell; "" when absent or null.
    public func cell(_ object: JSONValue) -> String {
        var value: JSONValue? = object
        for key in path { value = value?[key] }
        return ValueFormatter.cell(value)
    }
}
