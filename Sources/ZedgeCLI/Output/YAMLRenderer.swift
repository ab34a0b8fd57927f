import Foundation
import Yams
import ZedgeCore

/// JSON as YAML (Yams): block style, keys sorted, strings quoted where YAML would read them otherwise
/// ("true", "1.0", "null", …), so that a YAML parser gives back the same JSON.
public enum YAMLRenderer {
    public static func render(_ value: JSONValue) throws -> String {
        try Yams.serialize(node: node(value), sortKeys: true)
    }

    static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", .implicit)
        case .bool(let b): return Node(b ? "true" : "false", .implicit)
        case .number(let d): return Node(ValueFormatter.number(d), .implicit)
        case .string(let s):
            // A plain scalar that YAML would resolve to something else than a string gets quoted.
            let resolvesToString = Resolver.default.resolveTag(of: Node(s)) == .str
            return Node(s, .implicit, resolvesToString && !s.isEmpty ? .any : .doubleQuoted)
        case .array(let items): return Node(items.map(node))
        case .object(let members):
            return Node(members.sorted { $0.key < $1.key }.map { (node(.string($0.key)), node($0.value)) })
        }
    }
}
