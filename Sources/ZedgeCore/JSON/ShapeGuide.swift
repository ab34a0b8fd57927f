/// What `StrictJSONScanner.scanShape(_:guide:)` checks and gathers at one place of a JSON text, made from a request
/// body's schema: which members an object may have, what its members and an array's items hold, and whether the
/// value here is captured for a check (a field rule, a non-null field). With a guide, the one pass that checks the
/// grammar also finds unknown members and reads the values the checks need, so that a body is not parsed a second
/// time into a tree only to look at a few of its fields.
///
/// A tree of immutable nodes, built once per body type and shared (`Sendable`).
public final class ShapeGuide: Sendable {
    /// Whether an object here may have only the members in `properties` (the others are "unknown"); false for
    /// free-form objects (`[String: JSONValue]`, maps) and for values that are not objects.
    public let closed: Bool
    /// The guides of an object's members, by name.
    public let properties: [String: ShapeGuide]
    /// The guide of each item of an array.
    public let items: ShapeGuide?
    /// When set, the scan captures the value here (`StrictJSONScanner.Capture`) with this key, which the caller
    /// maps to its checks.
    public let captureKey: Int?
    /// Whether the schema says `integer` here: the scan lists a number here that is not whole
    /// (`StrictJSONScanner.Shape.nonIntegralNumbers`), and no other.
    public let integer: Bool
    /// `properties` by their UTF-8 bytes, when every name is ASCII (so that bytes are equal exactly when the names
    /// are): the names one after another in `asciiNames`, the `k`th ending at `asciiNameEnds[k]`, its guide
    /// `asciiGuides[k]`. Contiguous, so that a lookup counts no references (issue #14).
    private let asciiNames: [UInt8]
    private let asciiNameEnds: [Int]
    private let asciiGuides: [ShapeGuide]?

    public init(closed: Bool, properties: [String: ShapeGuide] = [:], items: ShapeGuide? = nil, captureKey: Int? = nil,
                integer: Bool = false) {
        self.closed = closed
        self.properties = properties
        self.items = items
        self.captureKey = captureKey
        self.integer = integer
        let ascii = properties.keys.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } }
        asciiNames = ascii ? properties.keys.flatMap(\.utf8) : []
        asciiNameEnds = ascii ? properties.keys.reduce(into: []) { ends, name in ends.append((ends.last ?? 0) + name.utf8.count) } : []
        asciiGuides = ascii ? Array(properties.values) : nil
    }

    /// The guide of the member whose name is `utf8` (unescaped, ASCII): the same answer as `properties` for that name,
    /// without making a `String` of it.
    public func property(utf8 name: UnsafeRawBufferPointer) -> ShapeGuide? {
        guard let asciiGuides else { return properties[String(decoding: name, as: UTF8.self)] }
        let found: Int? = asciiNames.withUnsafeBufferPointer { names in
            asciiNameEnds.withUnsafeBufferPointer { ends in
                var start = 0
                for (k, end) in ends.enumerated() {
                    defer { start = end }
                    if end - start == name.count, UnsafeBufferPointer(rebasing: names[start..<end]).elementsEqual(name) { return k }
                }
                return nil
            }
        }
        return found.map { asciiGuides[$0] }
    }
}
