import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator
import ZedgeTestSupport

/// The strict scan with a `BodyGuide` finds what the body decoder found before it, when it parsed every body a second
/// time into a `JSONValue` tree (kept here as the reference): the same unknown nested members, the same null refusals
/// and the same rule failures in the same order, for every route's body, over thousands of generated bodies
/// (valid, wrongly typed, with unknown members at every depth, values that break and keep each rule).
@Suite struct BodyGuideTests {
    @Test func theGuidedScanAgreesWithTheTreeWalkOnEveryRoutesBody() async throws {
        var routes: [RouteCatalog.Route] = []
        try await TestCoordinator.with(.sqlite) { c in routes = c.started.catalog.all }
        #expect(routes.filter { $0.requestSchema != nil }.count > 40)
        var random = SplitMix64(seed: 0x5EED_B0D1)
        var bodies = 0, failures = 0, unknowns = 0
        for route in routes {
            guard let schema = route.requestSchema else { continue }
            let guide = BodyGuide(schema: schema, rules: route.requestRules, nonNullFields: route.nonNullFields)
            for _ in 0..<150 {
                let body = Generator.value(for: schema, depth: 0, using: &random)
                let data = try ZedgeJSON.encoder().encode(body)
                let (outcome, shape) = StrictJSONScanner.scanShape(data, guide: guide.root)
                guard case .valid = outcome else {
                    Issue.record("\(route.method) \(route.templatePath): the generated body does not scan: \(outcome)")
                    continue
                }
                let expectedUnknown = Reference.nestedUnknownFields(body, schema: schema).map(\.field)
                let expectedErrors = route.nonNullFields.sorted().compactMap {
                    body[$0] == .null ? FieldError(field: $0, message: "must not be null") : nil
                } + Reference.ruleErrors(body, rules: route.requestRules)
                #expect(shape.unknownMembers.sorted() == expectedUnknown.sorted(),
                        "\(route.method) \(route.templatePath): \(String(decoding: data, as: UTF8.self))")
                #expect(guide.errors(shape.captures) == expectedErrors,
                        "\(route.method) \(route.templatePath): \(String(decoding: data, as: UTF8.self))")
                bodies += 1
                failures += expectedErrors.count
                unknowns += expectedUnknown.count
            }
        }
        // The generator must reach what it is meant to test: many bodies, and both kinds of finding.
        #expect(bodies > 5_000)
        #expect(failures > 1_000)
        #expect(unknowns > 1_000)
    }

    @Test func aGuideCapturesContainersBySizeAndReportsPathsOfNestedUnknownMembers() throws {
        let items = ShapeGuide(closed: true, properties: ["ip": ShapeGuide(closed: false, captureKey: 1)])
        let root = ShapeGuide(closed: true, properties: [
            "nics": ShapeGuide(closed: false, items: items, captureKey: 0),
            "labels": ShapeGuide(closed: false, captureKey: 2),
        ])
        let text = #"{"nics":[{"ip":"10.0.0.1"},{"ip":"a\u0062c","x":{"deep":1}}],"labels":{"a":1,"b":[2]},"other":{"y":1}}"#
        let (outcome, shape) = StrictJSONScanner.scanShape(Array(text.utf8), guide: root)
        #expect(outcome == .valid(members: 10))
        // `other` is unknown at the top level (the caller's to report); `x` is not, and nothing inside it is looked at.
        #expect(shape.unknownMembers == ["nics[1].x"])
        #expect(shape.captures == [
            .init(key: 1, path: "nics[0].ip", value: .scalar("10.0.0.1")),
            .init(key: 1, path: "nics[1].ip", value: .scalar("abc")),
            .init(key: 0, path: "nics", value: .array(count: 2)),
            .init(key: 2, path: "labels", value: .object(count: 2)),
        ])
        let empty = StrictJSONScanner.scanShape(Array(#"{"nics":[],"labels":{}}"#.utf8), guide: root).1
        #expect(empty.captures.map(\.value) == [.array(count: 0), .object(count: 0)])
    }
}

/// How the body decoder found unknown nested members and rule failures before `BodyGuide`: on a `JSONValue` tree of
/// the whole body. The reference `BodyGuideTests` holds the guided scan to.
enum Reference {
    /// "unknown field" for each member, below the top level, that its object's schema does not list (the top level
    /// is checked first, with the read-only messages). Objects without `properties` (free-form JSON) take anything.
    static func nestedUnknownFields(_ json: JSONValue, schema: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        func walk(_ value: JSONValue, _ schema: JSONValue?, _ field: String, top: Bool) {
            guard case .object(let schema)? = schema else { return }
            switch value {
            case .object(let members):
                guard case .object(let properties)? = schema["properties"] else { return }
                for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                    let path = field.isEmpty ? name : field + "." + name
                    if let property = properties[name] {
                        walk(member, property, path, top: false)
                    } else if !top {
                        errors.append(FieldError(field: path, message: "unknown field"))
                    }
                }
            case .array(let items):
                for (index, item) in items.enumerated() { walk(item, schema["items"], field + "[\(index)]", top: false) }
            default:
                return
            }
        }
        walk(json, schema, "", top: true)
        return errors
    }

    /// The failures of the declared field rules (`SchemaReflector.rules`) on the body, each at its concrete path
    /// (`networks[1].ipAddress`).
    static func ruleErrors(_ json: JSONValue, rules: [SchemaReflector.RuleAtPath]) -> [FieldError] {
        var errors: [FieldError] = []
        for entry in rules {
            var values: [(JSONValue, String)] = [(json, "")]
            for component in entry.path {
                values = values.flatMap { value, field -> [(JSONValue, String)] in
                    if component == "[]" {
                        guard case .array(let items) = value else { return [] }
                        return items.enumerated().map { ($1, field + "[\($0)]") }
                    }
                    guard case .object(let members) = value, let member = members[component] else { return [] }
                    return [(member, field.isEmpty ? component : field + "." + component)]
                }
            }
            errors += values.compactMap { entry.rule.check($0, field: $1) }
        }
        return errors
    }

}

/// Random JSON bodies shaped by a schema: each described member present or not, sometimes of the wrong type or null,
/// sometimes with an unknown member beside them; strings, numbers and arrays drawn to land on both sides of the rules.
enum Generator {
    static let strings: [String] = [
        "", "a", "web-1", "Web 1!", "x.y_z-0", String(repeating: "n", count: 64), String(repeating: "é", count: 300),
        "10.0.0.1", "10.0.0.256", "fd00::1", "10.0.0.0/24", "10.0.0.1/33", "52:54:00:aa:bb:cc", "52:54:00:aa:bb",
        "br-int", "eth0 bad", "kvm", "qemu", "SHARED", "ACTIVE", "nope", "user@example.com", "password1234",
        String(repeating: "ab", count: 32), "2026-12-02T18:00:00Z", "00000000-0000-0000-0000-000000000001", "tab\there",
    ]
    static let numbers: [Double] = [-1, 0, 1, 2, 7.5, 63, 64, 65, 100, 4094, 4095, 10_000, 10_001, 1e9, 9.1e15]

    static func value(for schema: JSONValue?, depth: Int, using random: inout SplitMix64) -> JSONValue {
        let roll = Int(random.next() % 100)
        if roll < 4 { return .null }
        if roll < 8 { return scalar(using: &random) }
        guard depth < 6, case .object(let node)? = schema else { return scalar(using: &random) }
        if case .object(let properties)? = node["properties"] {
            var members: [String: JSONValue] = [:]
            for (name, property) in properties where random.next() % 3 != 0 {
                members[name] = value(for: property, depth: depth + 1, using: &random)
            }
            if random.next() % 4 == 0 { members["zz-unknown-\(random.next() % 3)"] = value(for: nil, depth: depth + 1, using: &random) }
            return .object(members)
        }
        if let items = node["items"] {
            let count = [0, 1, 2, 3, 65][Int(random.next() % 5)]
            return .array((0..<count).map { _ in value(for: items, depth: depth + 1, using: &random) })
        }
        if node["additionalProperties"] != nil || node["type"] == "object" {
            let count = [0, 1, 3, 70][Int(random.next() % 4)]
            return .object(Dictionary(uniqueKeysWithValues: (0..<count).map { ("k\($0)", scalar(using: &random)) }))
        }
        if case .array(let choices)? = node["enum"], !choices.isEmpty, random.next() % 2 == 0 {
            return choices[Int(random.next() % UInt64(choices.count))]
        }
        return scalar(using: &random)
    }

    static func scalar(using random: inout SplitMix64) -> JSONValue {
        switch random.next() % 5 {
        case 0, 1: .string(strings[Int(random.next() % UInt64(strings.count))])
        case 2, 3: .number(numbers[Int(random.next() % UInt64(numbers.count))])
        default: .bool(random.next() % 2 == 0)
        }
    }
}
