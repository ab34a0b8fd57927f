import Synchronization
import ZedgeCore

/// What the strict scan of a request body checks below its top level (`StrictJSONScanner.scanShape(_:guide:)`): the
/// body's schema as a `ShapeGuide` (which objects are closed, what their members hold), with a capture point at each
/// path a field rule (`SchemaReflector.rules`) or a non-null field (`RequestBody.nonNullFields`) names. The scan that
/// checks the grammar then finds unknown nested members and reads the few values the rules need, so a body is parsed
/// once for its checks and once by `JSONDecoder` into its type, never a third time into a `JSONValue` tree.
///
/// Made once per body type (a memo: a type's schema never changes).
struct BodyGuide: Sendable {
    /// The checks at one capture point: rules with their index in the type's rule list (errors come in rule order),
    /// and whether `null` is refused there.
    struct Check: Sendable {
        var rules: [(index: Int, rule: FieldRule)] = []
        var nonNull = false
    }

    let root: ShapeGuide
    /// By `ShapeGuide.captureKey`.
    let checks: [Check]
    /// The members the body's top-level object may have (`SchemaReflector.propertyNames`).
    let topLevelNames: Set<String>

    static func of<Body: RequestBody>(_ type: Body.Type) -> BodyGuide {
        let key = ObjectIdentifier(type)
        if let known = made.withLock({ $0[key] }) { return known }
        let guide = BodyGuide(schema: SchemaReflector.schema(for: type), rules: SchemaReflector.rules(for: type),
                              nonNullFields: Body.nonNullFields)
        made.withLock { $0[key] = guide }
        return guide
    }

    private static let made = Mutex<[ObjectIdentifier: BodyGuide]>([:])

    /// An object is closed where its schema lists `properties`, open (free-form) otherwise; arrays follow `items`. A
    /// rule's path that the schema does not describe still gets its nodes, open, so that every rule is applied.
    init(schema: JSONValue, rules: [SchemaReflector.RuleAtPath], nonNullFields: Set<String>) {
        var byPath: [[String]: Check] = [:]
        for (index, entry) in rules.enumerated() { byPath[entry.path, default: Check()].rules.append((index, entry.rule)) }
        for field in nonNullFields { byPath[[field], default: Check()].nonNull = true }
        var checks: [Check] = []
        func make(_ schema: JSONValue?, _ path: [String]) -> ShapeGuide {
            let object: [String: JSONValue]
            if case .object(let members)? = schema { object = members } else { object = [:] }
            var properties: [String: ShapeGuide] = [:]
            var closed = false
            if case .object(let described)? = object["properties"] {
                closed = true
                for (name, property) in described { properties[name] = make(property, path + [name]) }
            }
            // The next component of each rule path below this one.
            let below = Set(byPath.keys.filter { $0.count > path.count && $0.starts(with: path) }.map { $0[path.count] })
            for name in below where name != "[]" && properties[name] == nil { properties[name] = make(nil, path + [name]) }
            let items: ShapeGuide? = object["items"] != nil || below.contains("[]") ? make(object["items"], path + ["[]"]) : nil
            var captureKey: Int?
            if let check = byPath[path] {
                checks.append(check)
                captureKey = checks.count - 1
            }
            // `integer` through objects only, as `StrictJSONScanner.Shape.nonIntegralNumbers` lists numbers.
            return ShapeGuide(closed: closed, properties: properties, items: items, captureKey: captureKey,
                              integer: !path.contains("[]") && Self.saysInteger(object["type"]))
        }
        root = make(schema, [])
        self.checks = checks
        if case .object(let described)? = schema["properties"] { topLevelNames = Set(described.keys) } else { topLevelNames = [] }
    }

    /// Whether a schema's `type` is `integer`, alone or among its types.
    static func saysInteger(_ type: JSONValue?) -> Bool {
        type == "integer" || type.map { if case .array(let types) = $0 { types.contains("integer") } else { false } } == true
    }

    /// The failures at the captured values: `null` where it is refused (by field name), then each rule's
    /// failures, in rule order and, for one rule, in document order (`networks[0]…`, `networks[1]…`).
    func errors(_ captures: [StrictJSONScanner.Capture]) -> [FieldError] {
        var nulls: [FieldError] = []
        var failed: [(index: Int, order: Int, error: FieldError)] = []
        for (order, capture) in captures.enumerated() {
            let check = checks[capture.key]
            if check.nonNull, capture.value == .scalar(.null) {
                nulls.append(FieldError(field: capture.path, message: "must not be null"))
            }
            for (index, rule) in check.rules {
                if let error = rule.check(capture.value, field: capture.path) { failed.append((index, order, error)) }
            }
        }
        failed.sort { ($0.index, $0.order) < ($1.index, $1.order) }
        return nulls.sorted { $0.field < $1.field } + failed.map(\.error)
    }
}
