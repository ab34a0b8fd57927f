import ZedgeCore

/// Filling a body from optional typed flags: only the flags given become fields.
extension Dictionary where Key == String, Value == JSONValue {
    mutating func put(_ key: String, _ value: String?) { if let value { self[key] = .string(value) } }
    mutating func put(_ key: String, _ value: Int?) { if let value { self[key] = .number(Double(value)) } }
    mutating func put(_ key: String, _ value: Double?) { if let value { self[key] = .number(value) } }
    mutating func put(_ key: String, _ value: Bool?) { if let value { self[key] = .bool(value) } }
    mutating func put(_ key: String, _ values: [String]) { if !values.isEmpty { self[key] = .array(values.map(JSONValue.string)) } }
    /// A JSON value given as text (`--quota '{"cpuCores": 8}'`).
    mutating func put(json key: String, _ text: String?) { if let text { self[key] = BodyBuilder.parseValue(text) } }
}
