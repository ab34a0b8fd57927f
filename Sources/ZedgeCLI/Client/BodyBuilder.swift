import Foundation
import ZedgeCore

/// Builds a request body from `-f FILE|-` (a JSON object), typed flags and `--set key=value`, in that order
/// (later ones win). A `--set` value is parsed as JSON when it parses (`8`, `true`, `null`, `["a"]`,
/// `{"cpuCores": 8}`, `"123"` for the string 123), else taken as a string; a dotted key (`quotaConfig.cpuCores=8`)
/// sets a member of a nested object.
public enum BodyBuilder {
    public static func build(file: String?, fields: [String: JSONValue], sets: [String],
                             readStdin: () -> Data = { FileHandle.standardInput.readDataToEndOfFile() }) throws -> [String: JSONValue] {
        var body: [String: JSONValue] = [:]
        if let file {
            let data: Data
            if file == "-" {
                data = readStdin()
            } else {
                data = try LocalFile.read(file)
            }
            let source = file == "-" ? "standard input" : file
            // The coordinator's own strict reading (RFC 8259, no duplicate names): what it would refuse is refused
            // here, saying where, rather than sent as Foundation's lenient parse rewrote it.
            switch StrictJSONScanner.scan(data) {
            case .valid: break
            case .malformed(let offset, let reason): throw CLIError.usage("\(source) is not valid JSON: \(reason) (at byte \(offset))")
            case .duplicateKey(let path): throw CLIError.usage("\(source) has the member \(path) twice")
            case .tooDeep(let offset, let maxDepth): throw CLIError.usage("\(source) nests deeper than \(maxDepth) (at byte \(offset))")
            }
            guard let object = try JSONDecoder().decode(JSONValue.self, from: data).objectValue else {
                throw CLIError.usage("\(source) is JSON but not an object ({…})")
            }
            body = object
        }
        for (key, value) in fields { body[key] = value }
        for assignment in sets {
            let (path, value) = try parseAssignment(assignment)
            body = set(body, path: path[...], value: value)
        }
        return body
    }

    /// `key=value` → (["key"], value); `a.b=1` → (["a", "b"], 1).
    public static func parseAssignment(_ text: String) throws -> ([String], JSONValue) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw CLIError.usage("--set \(text): expected key=value")
        }
        let key = String(text[..<equals])
        let raw = String(text[text.index(after: equals)...])
        let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.contains(where: \.isEmpty) else { throw CLIError.usage("--set \(text): empty key segment") }
        return (path, parseValue(raw))
    }

    /// JSON when `raw` is a JSON value, else the string itself.
    public static func parseValue(_ raw: String) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8))) ?? .string(raw)
    }

    private static func set(_ object: [String: JSONValue], path: ArraySlice<String>, value: JSONValue) -> [String: JSONValue] {
        var object = object
        guard let first = path.first else { return object }
        if path.count == 1 {
            object[first] = value
        } else {
            object[first] = .object(set(object[first]?.objectValue ?? [:], path: path.dropFirst(), value: value))
        }
        return object
    }
}
