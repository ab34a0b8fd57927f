#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A single pass over the bytes of a JSON text (RFC 8259) that finds duplicate member names at any depth, before
/// anything decodes it.
///
/// RFC 8259 §4 says "the names within an object SHOULD be unique" and leaves what a parser does with duplicates
/// open; RFC 7493 (I-JSON) §2.3 says objects "MUST NOT have members with duplicate names". Foundation's
/// `JSONSerialization` and `JSONDecoder` silently keep one of the values, while most other parsers keep the
/// other, so a proxy or validator in front of Zedge could see a value different from the one stored. The
/// coordinator refuses such bodies (`BodyDecoder`).
///
/// - Names are compared after unescaping, as Swift `String`s: `"n\u0061me"` duplicates `"name"`, and so do two
///   canonically equivalent spellings (`"é"` and `"e\u0301"`), which a Swift dictionary would merge.
/// - The grammar is RFC 8259's, strictly: one value with optional whitespace (space, tab, LF, CR) around it; no
///   byte order mark, comments, trailing commas, single quotes, leading zeros, `NaN` or unescaped control
///   characters; strings must be UTF-8 (RFC 3629) and `\u` escapes may not leave a lone surrogate; numbers must
///   lie within the range of a 64-bit float (I-JSON, RFC 7493 §2.2; `1e999` is refused, `1e-999` reads as 0).
/// - Containers may nest at most `maxDepth` deep (the top-level value is depth 1).
///
/// Time is linear in the input; memory is O(depth) plus the names of the open objects. No recursion.
public enum StrictJSONScanner {
    /// What a scan found: the first problem in document order, or that there is none.
    public enum Outcome: Sendable, Hashable {
        /// Well-formed, with unique names in every object; `members` counts the object members of the whole text.
        case valid(members: Int)
        /// The first member whose name its object already has, by its path: `name`, `spec.nics[1].subnetId`,
        /// `[0].id` (a top-level array), `""` (the empty name: a path is never empty).
        case duplicateKey(path: String)
        /// Not JSON: what was expected and the byte offset (0-based) where it was not found.
        case malformed(offset: Int, reason: String)
        /// A container opened deeper than `maxDepth`, at that byte offset.
        case tooDeep(offset: Int, maxDepth: Int)
    }

    /// The default depth limit: far deeper than any Zedge body, shallow enough to bound the work per level.
    public static let defaultMaxDepth = 64

    /// Scans `bytes` (a JSON text in UTF-8).
    public static func scan(_ bytes: some ContiguousBytes, maxDepth: Int = defaultMaxDepth) -> Outcome {
        bytes.withUnsafeBytes { buffer in
            var scanner = Scanner(buffer: buffer, maxDepth: max(1, maxDepth))
            return scanner.run()
        }
    }

    /// What a request body's checks need besides validity, gathered in the same pass (so that the body is not parsed
    /// a second time into Foundation objects only to be looked at).
    public struct Shape: Sendable, Hashable {
        /// The top-level object's member names in document order; nil when the top-level value is not an object.
        public var topLevelNames: [String]?
        /// The numbers that are not whole, or whose magnitude passes 9e15 (past which a double no longer holds every
        /// integer), and that sit in objects all the way down (no array on their path): each by its member names
        /// from the top, in document order. With a guide, only those where it says `integer`.
        public var nonIntegralNumbers: [[String]]
        /// With a guide: the members below the top level that their object's guide does not list (`closed`), by
        /// path (`spec.nics[1].colour`), in document order. What is inside an unknown member is not looked at.
        public var unknownMembers: [String] = []
        /// With a guide: the values at the guide's capture points, in document order.
        public var captures: [Capture] = []
    }

    /// A value the guide asked for (`ShapeGuide.captureKey`), where it was.
    public struct Capture: Sendable, Hashable {
        public var key: Int
        /// `networks[1].ipAddress`.
        public var path: String
        public var value: Captured

        public init(key: Int, path: String, value: Captured) {
            self.key = key
            self.path = path
            self.value = value
        }
    }

    /// A captured value: a scalar whole (strings unescaped, numbers as 64-bit floats), a container by its size
    /// (the only thing field rules ask of one: `FieldRule.items`, `FieldRule.maxProperties`).
    public enum Captured: Sendable, Hashable {
        case scalar(JSONValue)
        case array(count: Int)
        case object(count: Int)
    }

    /// `scan`, and the body's `Shape` when it is valid. With `guide` (the guide of the top-level value), the shape also
    /// holds the unknown members and the captures.
    public static func scanShape(_ bytes: some ContiguousBytes, maxDepth: Int = defaultMaxDepth, guide: ShapeGuide? = nil) -> (Outcome, Shape) {
        bytes.withUnsafeBytes { buffer in
            var scanner = Scanner(buffer: buffer, maxDepth: max(1, maxDepth))
            scanner.collectsShape = true
            scanner.rootGuide = guide
            let outcome = scanner.run()
            let names = scanner.topLevelIsObject ? scanner.frames.first.map { $0.names.map(scanner.text) } : nil
            return (outcome, Shape(topLevelNames: names, nonIntegralNumbers: scanner.nonIntegral,
                                   unknownMembers: scanner.unknown, captures: scanner.captures))
        }
    }
}

// MARK: - The scanner

private struct Scanner {
    /// A member name: plain (no escape, ASCII only) by where its bytes are, so that most names are compared and looked
    /// up without making a `String`; any other by its unescaped value (`unescapedNames`). A plain value (no reference
    /// to count), as are the guides a frame holds: the scan's cost was mostly retains and releases (issue #14).
    struct Name {
        var start: Int
        var count: Int
        /// The index of its value in `unescapedNames`; -1 for a plain name.
        var unescaped: Int
    }

    /// One open container.
    struct Frame {
        var isObject: Bool
        /// Object: the names seen so far (compared linearly while few, then through `set`).
        var names: [Name] = []
        var set: Set<String>? = nil
        /// Array: the index of the current element.
        var index = 0
        /// With a guide: this container's guide, and the guide of the current member's value (objects). Unretained:
        /// the scan's root guide holds them.
        var guide: Unmanaged<ShapeGuide>? = nil
        var memberGuide: Unmanaged<ShapeGuide>? = nil
        /// With a guide: the capture this container is, completed when it closes (its key and path).
        var capture: (key: Int, path: String)? = nil
    }

    /// Objects with more names than this check them through a `Set` (below, a linear search is cheaper).
    static let linearLimit = 16

    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var i = 0
    /// The open containers are `frames[0..<depth]`; frames past it are kept for reuse (their arrays keep capacity).
    var frames: [Frame] = []
    var depth = 0
    var members = 0
    /// Reused buffer for names with escapes.
    var scratch: [UInt8] = []
    /// Whether to gather `StrictJSONScanner.Shape`'s facts.
    var collectsShape = false
    var topLevelIsObject = false
    var nonIntegral: [[String]] = []
    /// The guide of the top-level value; nil: no unknown members are looked for and nothing is captured.
    var rootGuide: ShapeGuide? = nil
    var unknown: [String] = []
    /// The values of the names that are not plain.
    var unescapedNames: [String] = []
    var captures: [StrictJSONScanner.Capture] = []

    init(buffer: UnsafeRawBufferPointer, maxDepth: Int) {
        bytes = buffer
        self.maxDepth = maxDepth
    }

    /// Ends the scan early with its outcome.
    struct Stop: Error {
        var outcome: StrictJSONScanner.Outcome
    }

    mutating func run() -> StrictJSONScanner.Outcome {
        do throws(Stop) {
            try scanText()
            return .valid(members: members)
        } catch {
            return error.outcome
        }
    }

    // MARK: Structure

    mutating func scanText() throws(Stop) {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { throw malformed("a byte order mark is not allowed (RFC 8259 §8.1)") }
        skipWhitespace()
        while true {
            // A value starts at `i`.
            guard i < bytes.count else { throw malformed("expected a value") }
            let guide = rootGuide == nil ? nil : valueGuide()
            let captureKey = guide?._withUnsafeGuaranteedRef { $0.captureKey }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                try open(isObject: true, guide: guide)
                skipWhitespace()
                if peek(UInt8(ascii: "}")) {
                    i += 1
                    close(count: 0)
                } else {
                    try member()
                    continue  // its value
                }
            case UInt8(ascii: "["):
                try open(isObject: false, guide: guide)
                skipWhitespace()
                if peek(UInt8(ascii: "]")) {
                    i += 1
                    close(count: 0)
                } else {
                    continue  // element 0
                }
            case UInt8(ascii: "\""):
                let text = try string(name: captureKey != nil)
                if let captureKey { capture(captureKey, .scalar(.string(text!))) }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                try number(guide: guide)
                if let captureKey {
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    capture(captureKey, .scalar(.number(Double(text) ?? 0)))
                }
            case UInt8(ascii: "t"):
                try literal("true")
                if let captureKey { capture(captureKey, .scalar(.bool(true))) }
            case UInt8(ascii: "f"):
                try literal("false")
                if let captureKey { capture(captureKey, .scalar(.bool(false))) }
            case UInt8(ascii: "n"):
                try literal("null")
                if let captureKey { capture(captureKey, .scalar(.null)) }
            default:
                throw malformed("expected a value")
            }
            // After a complete value: close containers until one continues with another value.
            while true {
                skipWhitespace()
                guard depth > 0 else {
                    if i < bytes.count { throw malformed("expected the end of the text after the top-level value") }
                    return
                }
                let isObject = frames[depth - 1].isObject
                guard i < bytes.count else {
                    throw malformed(isObject ? "expected ',' or '}' (the text ended)" : "expected ',' or ']' (the text ended)")
                }
                let b = bytes[i]
                if b == UInt8(ascii: ",") {
                    i += 1
                    skipWhitespace()
                    if isObject {
                        try member()
                    } else {
                        frames[depth - 1].index += 1
                    }
                    break
                } else if b == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i += 1
                    close(count: isObject ? frames[depth - 1].names.count : frames[depth - 1].index + 1)
                } else {
                    throw malformed(isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
        }
    }

    mutating func open(isObject: Bool, guide: Unmanaged<ShapeGuide>?) throws(Stop) {
        guard depth < maxDepth else { throw Stop(outcome: .tooDeep(offset: i, maxDepth: maxDepth)) }
        if depth == 0 { topLevelIsObject = isObject }
        let capture = guide?._withUnsafeGuaranteedRef { $0.captureKey }.map { (key: $0, path: valuePath()) }
        if depth < frames.count {
            frames[depth].isObject = isObject
            frames[depth].names.removeAll(keepingCapacity: true)
            frames[depth].set = nil
            frames[depth].index = 0
            frames[depth].guide = guide
            frames[depth].memberGuide = nil
            frames[depth].capture = capture
        } else {
            frames.append(Frame(isObject: isObject, guide: guide, capture: capture))
        }
        depth += 1
        i += 1
    }

    /// Closes the innermost container, which held `count` members or items, completing its capture if it is one.
    mutating func close(count: Int) {
        depth -= 1
        if let capture = frames[depth].capture {
            captures.append(.init(key: capture.key, path: capture.path,
                                  value: frames[depth].isObject ? .object(count: count) : .array(count: count)))
        }
    }

    /// The guide of the value that starts at `i`: the root's, a member's or an array's items'.
    func valueGuide() -> Unmanaged<ShapeGuide>? {
        guard depth > 0 else { return rootGuide.map { Unmanaged.passUnretained($0) } }
        // Fields read in place: copying the frame would retain every reference it holds.
        if frames[depth - 1].isObject { return frames[depth - 1].memberGuide }
        return frames[depth - 1].guide?._withUnsafeGuaranteedRef { $0.items.map { Unmanaged.passUnretained($0) } }
    }

    /// Records the scalar value that starts at the current position's path.
    mutating func capture(_ key: Int, _ value: StrictJSONScanner.Captured) {
        captures.append(.init(key: key, path: valuePath(), value: value))
    }

    /// The path of the value at the current position: `a.b[2].name` (the empty name shows as `""`).
    func valuePath() -> String { path(through: depth) }

    /// The path through the open containers `frames[..<end]`, each object by its current member's name and each array
    /// by its current index.
    func path(through end: Int) -> String {
        var path = ""
        for frame in frames[..<end] {
            if frame.isObject {
                if !path.isEmpty { path += "." }
                path += Self.segment(frame.names.last.map(text) ?? "")
            } else {
                path += "[\(frame.index)]"
            }
        }
        return path
    }

    /// A member name in a path; the empty name shows as `""` (a path is never empty).
    static func segment(_ name: String) -> String { name.isEmpty ? #""""# : name }

    /// A member's name and colon, at `i` (whitespace skipped); leaves `i` at its value.
    mutating func member() throws(Stop) {
        guard peek(UInt8(ascii: "\"")) else { throw malformed("expected a member name (a string)") }
        let name = try memberName()
        members += 1
        let top = depth - 1
        if frames[top].set != nil {
            if !frames[top].set!.insert(text(name)).inserted { throw duplicate(name) }
        } else if frames[top].names.contains(where: { same($0, name) }) {
            throw duplicate(name)
        } else if frames[top].names.count == Self.linearLimit {
            var set = Set(frames[top].names.map(text))
            set.insert(text(name))
            frames[top].set = set
        }
        frames[top].names.append(name)  // the last one is the current member's name (for paths)
        if let guide = frames[top].guide {
            let (memberGuide, closed) = guide._withUnsafeGuaranteedRef { guide in
                let found = name.unescaped >= 0 ? guide.properties[unescapedNames[name.unescaped]]
                    : guide.property(utf8: UnsafeRawBufferPointer(rebasing: bytes[name.start..<name.start + name.count]))
                return (found.map { Unmanaged.passUnretained($0) }, guide.closed)
            }
            frames[top].memberGuide = memberGuide
            // The top-level object's unknown members are the caller's (it words them: read-only, unknown).
            if memberGuide == nil, closed, depth > 1 { unknown.append(valuePath()) }
        }
        skipWhitespace()
        guard peek(UInt8(ascii: ":")) else { throw malformed("expected ':' after a member name") }
        i += 1
        skipWhitespace()
    }

    /// The path of member `name` of the innermost object: `a.b[2].name`; the empty name shows as `""`.
    func duplicate(_ name: Name) -> Stop {
        var path = path(through: depth - 1)
        if !path.isEmpty { path += "." }
        return Stop(outcome: .duplicateKey(path: path + Self.segment(text(name))))
    }

    /// A name's value.
    func text(_ name: Name) -> String {
        name.unescaped >= 0 ? unescapedNames[name.unescaped]
            : String(decoding: UnsafeRawBufferPointer(rebasing: bytes[name.start..<name.start + name.count]), as: UTF8.self)
    }

    /// Whether two names are the same: byte for byte when both are plain (for ASCII, `String`'s equality is the bytes'),
    /// as `String`s otherwise (canonical equivalence: `"caf\u00e9"` and `"cafe\u0301"`, and `"K"` and U+212A KELVIN SIGN).
    func same(_ a: Name, _ b: Name) -> Bool {
        guard a.unescaped < 0, b.unescaped < 0 else { return text(a) == text(b) }
        return a.count == b.count && bytes[a.start..<a.start + a.count].elementsEqual(bytes[b.start..<b.start + b.count])
    }

    /// A member name at `i` (its opening quote); leaves `i` after its closing quote.
    mutating func memberName() throws(Stop) -> Name {
        let start = i + 1
        var plain = true
        let unescaped = try string(name: true, plain: &plain)
        guard let unescaped else { return Name(start: start, count: i - 1 - start, unescaped: -1) }
        unescapedNames.append(unescaped)
        return Name(start: start, count: 0, unescaped: unescapedNames.count - 1)
    }

    // MARK: Tokens

    func peek(_ b: UInt8) -> Bool { i < bytes.count && bytes[i] == b }

    func malformed(_ reason: String) -> Stop { Stop(outcome: .malformed(offset: i, reason: reason)) }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(Stop) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - i >= count else { throw malformed("expected \(word)") }
        let start = word.utf8Start
        for k in 0..<count where bytes[i + k] != start[k] { throw malformed("expected \(word)") }
        i += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, within the range of a 64-bit float (RFC 7493 §2.2;
    /// Foundation refuses `1e999` too).
    mutating func number(guide: Unmanaged<ShapeGuide>?) throws(Stop) {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw malformed("expected a digit") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        let fraction = peek(UInt8(ascii: "."))
        if fraction {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw malformed("expected a digit after '.'") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        let exponent = peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E"))
        if exponent {
            i += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw malformed("expected a digit in the exponent") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        // Only an exponent or more than 308 digits can leave the range; checking those alone keeps the scan cheap.
        if exponent || i - start > 308 {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            if !(Double(text)?.isFinite ?? false) {
                i = start
                throw malformed("a number beyond the range of a 64-bit float (RFC 7493 §2.2)")
            }
        }
        if collectsShape, depth > 0, rootGuide == nil || guide?._withUnsafeGuaranteedRef({ $0.integer }) == true, (0..<depth).allSatisfy({ frames[$0].isObject }),
           !isWholeAndSafe(start..<i, plain: !fraction && !exponent) {
            nonIntegral.append(frames[..<depth].map { $0.names.last.map(text) ?? "" })
        }
    }

    /// Whether the number at `range` is whole and at most 9e15 in magnitude. `plain`: digits only (and a sign); with at
    /// most 15 digits it is, without reading its value.
    func isWholeAndSafe(_ range: Range<Int>, plain: Bool) -> Bool {
        let digits = range.count - (bytes[range.lowerBound] == UInt8(ascii: "-") ? 1 : 0)
        if plain, digits <= 15 { return true }  // below 1e15
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        guard let value = Double(text) else { return false }
        return value.rounded() == value && abs(value) <= 9.0e15
    }

    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// A string at `i` (the opening quote), checked; for a name (`name` true) its unescaped value.
    @discardableResult
    mutating func string(name: Bool) throws(Stop) -> String? {
        var plain = false
        return try string(name: name, plain: &plain)
    }

    /// `string(name:)`; `plain` is set when the string has no escape and only ASCII, and then, when it was set on entry,
    /// no `String` is made (the caller has the bytes).
    mutating func string(name: Bool, plain: inout Bool) throws(Stop) -> String? {
        let wantsPlain = plain
        plain = true
        i += 1
        let start = i
        var escaped = false
        if name { scratch.removeAll(keepingCapacity: true) }
        var segment = i  // start of the bytes not yet copied to `scratch`
        while true {
            guard i < bytes.count else { throw malformed("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                break
            } else if b == UInt8(ascii: "\\") {
                if name { scratch.append(contentsOf: bytes[segment..<i]) }
                escaped = true
                try escape(name: name)
                segment = i
            } else if b < 0x20 {
                throw malformed("control character in a string (must be escaped)")
            } else if b < 0x80 {
                i += 1
            } else {
                plain = false
                try utf8Sequence()
            }
        }
        let end = i
        i += 1  // closing quote
        if escaped { plain = false }
        guard name, !(wantsPlain && plain) else { return nil }
        if !escaped { return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) }
        scratch.append(contentsOf: bytes[segment..<end])
        return String(decoding: scratch, as: UTF8.self)
    }

    /// An escape at `i` (the backslash); appends what it stands for to `scratch` when `name`.
    mutating func escape(name: Bool) throws(Stop) {
        guard i + 1 < bytes.count else { throw malformed("unterminated escape") }
        let replacement: UInt8
        switch bytes[i + 1] {
        case UInt8(ascii: "\""): replacement = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): replacement = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): replacement = UInt8(ascii: "/")
        case UInt8(ascii: "b"): replacement = 0x08
        case UInt8(ascii: "f"): replacement = 0x0C
        case UInt8(ascii: "n"): replacement = 0x0A
        case UInt8(ascii: "r"): replacement = 0x0D
        case UInt8(ascii: "t"): replacement = 0x09
        case UInt8(ascii: "u"):
            i += 1  // at 'u'
            let unit = try hex4()
            var scalar: Unicode.Scalar
            if (0xD800...0xDBFF).contains(unit) {
                guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                    throw malformed("a \\u escape leaves a lone surrogate")
                }
                i += 1
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw malformed("a \\u escape leaves a lone surrogate") }
                scalar = Unicode.Scalar(0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00))!
            } else if (0xDC00...0xDFFF).contains(unit) {
                throw malformed("a \\u escape leaves a lone surrogate")
            } else {
                scalar = Unicode.Scalar(unit)!
            }
            if name { scratch.append(contentsOf: UTF8.encode(scalar)!) }
            return
        default:
            throw malformed("invalid escape (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
        }
        if name { scratch.append(replacement) }
        i += 2
    }

    /// Four hex digits after the `u` at `i`; leaves `i` after them.
    mutating func hex4() throws(Stop) -> UInt16 {
        i += 1
        guard bytes.count - i >= 4 else { throw malformed("expected four hex digits after \\u") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw malformed("expected four hex digits after \\u")
            }
            value = value << 4 | UInt16(digit)
            i += 1
        }
        return value
    }

    /// One multi-byte UTF-8 sequence at `i` (RFC 3629 §4: no overlong forms, surrogates or values past U+10FFFF).
    mutating func utf8Sequence() throws(Stop) {
        let b = bytes[i]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF  // the allowed range of the second byte
        switch b {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw malformed("invalid UTF-8")
        }
        guard bytes.count - i >= length else { throw malformed("invalid UTF-8 (truncated sequence)") }
        guard (low...high).contains(bytes[i + 1]) else { throw malformed("invalid UTF-8") }
        for k in 2..<max(2, length) where !(0x80...0xBF).contains(bytes[i + k]) { throw malformed("invalid UTF-8") }
        i += length
    }
}
