import Foundation

extension JSONValue {
    /// Parses a JSON text (RFC 8259; a scalar at the top level too) with Foundation's `JSONSerialization`.
    ///
    /// Why not `JSONDecoder().decode(JSONValue.self, from:)`: through `Decodable` a value can learn its JSON type
    /// only by trying one type after another, and every miss throws a `DecodingError` (issue #14: 450 µs for an
    /// 850-byte object that `JSONSerialization` parses and converts in 65 µs). The result is the same value: numbers
    /// as `Double`, `true`/`false` as `.bool` (never the numbers 1 and 0). For text Zedge wrote (its database, the
    /// agent's journal); a body from outside goes through `StrictJSONScanner` first, as `JSONSerialization`, like
    /// `JSONDecoder`, lets a trailing comma pass.
    /// - Throws: `JSONSerialization`'s error for a text that is not JSON; `DecodingError.dataCorrupted` for a number
    ///   outside the range of a `Double` (I-JSON, RFC 7493 §2.2).
    public init(parsing data: Data) throws {
        self = try Self(converting: JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// Parses the UTF-8 of `text` (`init(parsing:)`).
    public init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    /// `JSONSerialization`'s booleans are this subclass of `NSNumber`; its numbers are not.
    private static let booleanType = ObjectIdentifier(type(of: NSNumber(value: true)))

    /// The containers are tried first: asking whether a Swift `Dictionary` or `Array` is an `NSNumber` bridges the
    /// whole container to a new `NSDictionary` or `NSArray` only to answer no (issue #14: 3.6 % of the
    /// coordinator's CPU at 330 creates/s went to that bridging).
    private init(converting object: Any) throws {
        switch object {
        case let string as String:
            self = .string(string)
        case let object as [String: Any]:
            self = .object(try object.mapValues { try JSONValue(converting: $0) })
        case let array as [Any]:
            self = .array(try array.map { try JSONValue(converting: $0) })
        case let number as NSNumber:
            if ObjectIdentifier(type(of: number)) == Self.booleanType {
                self = .bool(number.boolValue)
            } else {
                let value = number.doubleValue
                guard value.isFinite else {
                    throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the number \(number) is out of range"))
                }
                self = .number(value)
            }
        case is NSNull:
            self = .null
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not a JSON value: \(type(of: object))"))
        }
    }
}
