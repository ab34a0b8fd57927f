#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Fills an instance's parameters into its template's user-data: every `{{ parameters.NAME }}` (spaces inside
/// the braces optional) becomes the parameter's value — strings as they are, numbers without a needless
/// ".0", booleans as `true`/`false`. Other `{{ … }}` text is left alone, so a cloud-init Jinja template
/// (`## template: jinja`, with `{{ v1.local_hostname }}` and the like) still reaches cloud-init intact; a
/// placeholder naming a parameter the instance has no value for is left as it is too.
public enum UserDataTemplate {
    public static func render(_ text: String, parameters: [String: JSONValue]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                rest = rest[open.lowerBound...]
                break
            }
            let inner = rest[open.upperBound..<close.lowerBound].trimmed()
            if inner.hasPrefix("parameters."), let value = parameters[String(inner.dropFirst("parameters.".count))],
               let rendered = Self.text(value)
            {
                out += rendered
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): s
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .bool(let b): String(b)
        default: nil
        }
    }
}
