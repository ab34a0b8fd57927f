import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator
import ZedgeTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The OpenAPI document states every rule the server applies to a request field (issue #15 item 1):
/// - every `FieldRule` a route's body declares appears, keyword for keyword, at its place in the served document;
/// - every rule's check agrees with its JSON Schema keywords, value for value, over thousands of generated values,
///   so a keyword cannot say more or less than the check does;
/// - no body's `validate()` checks a single field by hand (such a check would have no counterpart in the document).
@Suite struct FieldRuleDocumentTests {
    @Test func everyDeclaredRuleIsInTheServedDocument() async throws {
        try await TestCoordinator.with(.sqlite) { c in
            let document = try JSONValue(parsing: try await c.client.get("/api/v1/openapi.json", token: nil).body)
            var checked = 0
            for route in c.started.catalog.all where !route.requestRules.isEmpty {
                let operation = document["paths"]?[route.templatePath]?[route.method.rawValue.lowercased()]
                var schema = try #require(operation?["requestBody"]?["content"]?["application/json"]?["schema"],
                                          "\(route.method) \(route.templatePath) has no request schema")
                #expect(schema["additionalProperties"] == false, "\(route.method) \(route.templatePath) is open to unknown fields")
                let root = schema
                for name in route.nonNullFields {
                    let type = schema["properties"]?[name]?["type"]
                    #expect(type != nil && type?.arrayValue?.contains("null") != true,
                            "\(route.method) \(route.templatePath) \(name) refuses null, but the document's type is \(String(describing: type))")
                }
                for entry in route.requestRules {
                    schema = root
                    for component in entry.path {
                        schema = try #require(component == "[]" ? schema["items"] : schema["properties"]?[component],
                                              "\(route.method) \(route.templatePath): \(entry.path) is not in the document")
                    }
                    for (keyword, value) in entry.rule.keywords {
                        var stated = schema[keyword]
                        // An optional field's enum also admits null (the type says so).
                        if keyword == "enum", case .array(let values)? = stated { stated = .array(values.filter { $0 != .null }) }
                        #expect(stated == value, "\(route.method) \(route.templatePath) \(entry.path.joined(separator: ".")): \(keyword) is \(String(describing: stated)), the rule says \(value)")
                        checked += 1
                    }
                }
            }
            #expect(checked > 150, "only \(checked) keywords checked: are the rules declared?")
        }
    }

    /// Each distinct rule of the served routes, checked against its own keywords on generated values.
    @Test func everyRuleMeansWhatItsKeywordsSay() async throws {
        try await TestCoordinator.with(.sqlite) { c in
            var seen: Set<String> = []
            var rules: [(String, FieldRule)] = []
            for route in c.started.catalog.all {
                for entry in route.requestRules {
                    let key = String(describing: JSONValue.object(entry.rule.keywords))
                    if seen.insert(key).inserted { rules.append(("\(route.templatePath) \(entry.path.joined(separator: "."))", entry.rule)) }
                }
            }
            #expect(rules.count > 20, "only \(rules.count) distinct rules")
            var generator = SplitMix64(seed: 0x5eed_f1e1d)
            let strings = Self.strings(using: &generator)
            for (place, rule) in rules {
                var disagreements: [String] = []
                for value in strings + Self.others where disagreements.count < 5 {
                    let accepted = rule.check(value, field: "f") == nil
                    let documented = SchemaKeywords.valid(value, rule.keywords)
                    if accepted != documented {
                        disagreements.append("\(value): the server \(accepted ? "accepts" : "refuses"), the document \(documented ? "admits" : "excludes")")
                    }
                }
                #expect(disagreements.isEmpty, "\(place) \(rule.keywords): \(disagreements.joined(separator: "; "))")
            }
        }
    }

    @Test func validateHoldsNoSingleFieldCheck() throws {
        let controllers = LayeringScanner.packageRoot().appendingPathComponent("Sources/ZedgeCoordinator/HTTP/Controllers")
        let files = try FileManager.default.contentsOfDirectory(atPath: controllers.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count > 15)
        let perField = try NSRegularExpression(pattern: #"Validate\.(?!collect\b)[a-zA-Z]+\(|\.(isEmpty|count) *[<>]|\.utf8\.count"#)
        var offenders: [String] = []
        for file in files {
            let source = try String(contentsOf: controllers.appendingPathComponent(file), encoding: .utf8)
            for body in Self.functionBodies(named: "func validate() -> [FieldError]", in: source).map(String.init) {
                let range = NSRange(body.startIndex..., in: body)
                if let match = perField.firstMatch(in: body, range: range), let found = Range(match.range, in: body) {
                    offenders.append("\(file): \(body[found])")
                }
            }
        }
        #expect(offenders.isEmpty, "declare these as FieldRules (fieldRules), so the document states them: \(offenders)")
    }

    @Test func rulesAndUnknownFieldsApplyAtEveryDepth() throws {
        let subnet = UUID().uuidString, template = UUID().uuidString
        func fields(_ json: String) -> [String] {
            do {
                _ = try BodyDecoder.decode(InstanceController.CreateBody.self, from: Data(json.utf8))
                return []
            } catch let problem as Problem {
                #expect(problem.status == .badRequest)
                return problem.errors.map(\.field)
            } catch {
                Issue.record("unexpected \(error)")
                return []
            }
        }
        let ok = #"{"name":"web-1","templateId":"\#(template)","networks":[{"subnetId":"\#(subnet)","ipAddress":"10.0.0.5"}]}"#
        #expect(fields(ok).isEmpty)
        #expect(fields(#"{"name":"web-1","templateId":"\#(template)","networks":[{"subnetId":"\#(subnet)"},{"subnetId":"\#(subnet)","ipAddress":"10.0.0"}]}"#)
            == ["networks[1].ipAddress"])
        #expect(fields(#"{"name":"web-1","templateId":"\#(template)","networks":[{"subnetId":"\#(subnet)","mac":"x"}]}"#)
            == ["networks[0].mac"])
        #expect(fields(#"{"name":" web","templateId":"\#(template)","timeoutS":0}"#) == ["name", "timeoutS"])
        // Free-form JSON stays free-form.
        #expect(fields(#"{"name":"web-1","templateId":"\#(template)","parameters":{"anything":{"nested":[1]}}}"#).isEmpty)
    }

    // MARK: - Generated values

    /// Seeds that satisfy or nearly satisfy the rules, mutated, and random strings over an alphabet with the
    /// characters the rules care about.
    static func strings(using generator: inout SplitMix64) -> [JSONValue] {
        let seeds = [
            "web-1", "a", "A9", "alice", "al", "alice.b_c-d", "alice@example.com", "a.b+c@mail.example.org", "x@y.io",
            "p@ssw0rd!", "correct horse battery", "10.0.0.1", "10.0.0.0", "255.255.255.0", "255.0.255.0", "192.168.1.255",
            "fd00::1", "::", "::1", "2001:db8::8a2e:370:7334", "1:2:3:4:5:6:7:8", "10.0.0.0/16", "10.0.0.1/16", "fd00::/48",
            "0.0.0.0/0", "::/0", "::ffff:10.0.0.0/104", "::ffff:a00:0/104", "10.0.0.0/033", "10.0.0.0/+8", "010.0.0.0/8", "aa:bb:cc:dd:ee:ff", "AA:BB:CC:DD:EE:0F", "/mnt/data", "/", "/a/./b", "/a/../b", "/a/.b",
            "v1.2.0", "latest", ".hidden", "-x", "_x", "br-int", ".", "..", "AQAAAAAAAAAAAAAAAAAAAA==", "AQDmB5Zf8dJ2MhAA2nSFg7c3Sm1q7o0Nn3i3yw==",
            "STATIC", "DHCP", "load_balance", "bin_pack", "kvm", "qemu", "test", "ACTIVE", "LOCKED", "INACTIVE",
            "Line one\nline two\tand a tab", "bidi \u{202E}", "nul \u{0}", "é", "😀", "",
            "host.example.com", "a-.b", "-a.b", "a..b", "example", "xn--bcher-kva.example",
        ]
        let alphabet = Array("aZ09._-@/:=+ \t\n!#$%&*?^{|}~'\"`<>éß😀\u{0}\u{7}\u{85}\u{202E}\u{200E}")
        let simple = Array("abcdef0123456789.:/-_")
        var out = seeds.map { JSONValue.string($0) }
        for seed in seeds {
            for _ in 0..<40 {
                var characters = Array(seed)
                let pool = generator.next() % 2 == 0 ? simple : alphabet
                switch generator.next() % 4 {
                case 0 where !characters.isEmpty: characters.remove(at: Int(generator.next() % UInt64(characters.count)))
                case 1: characters.insert(pool[Int(generator.next() % UInt64(pool.count))],
                                          at: Int(generator.next() % UInt64(characters.count + 1)))
                case 2 where !characters.isEmpty:
                    characters[Int(generator.next() % UInt64(characters.count))] = pool[Int(generator.next() % UInt64(pool.count))]
                default: characters += characters.prefix(Int(generator.next() % 4))
                }
                out.append(.string(String(characters)))
            }
        }
        for length in [0, 1, 2, 3, 7, 8, 14, 15, 16, 23, 24, 62, 63, 64, 65, 72, 73, 127, 128, 129, 253, 254, 255, 256, 257, 680, 681, 1024, 1025, 4097] {
            out.append(.string(String(repeating: "a", count: length)))
            out.append(.string(String(repeating: "é", count: length)))
            out.append(.string(String(repeating: "A", count: length / 4 * 4)))
            for _ in 0..<3 {
                out.append(.string(String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })))
            }
        }
        return out
    }

    /// Numbers, arrays and objects around the bounds the rules use.
    static let others: [JSONValue] = {
        var values: [JSONValue] = [.null, .bool(true)]
        for n in [-1, 0, 1, 2, 8, 9, 16, 17, 20, 21, 64, 65, 512, 513, 4094, 4095, 4096, 4097, 10_000, 10_001, 65_536, 65_537,
                  31_536_000, 31_536_001, 1_000_000_000, 1_000_000_001] {
            values.append(.number(Double(n)))
        }
        for count in [0, 1, 4, 5, 8, 9, 64, 65] {
            values.append(.array(Array(repeating: .string("10.0.0.1"), count: count)))
            values.append(.object(Dictionary(uniqueKeysWithValues: (0..<count).map { ("k\($0)", JSONValue.number(1)) })))
        }
        return values
    }()

    /// The bodies (text between the braces) of each function whose signature contains `signature`.
    static func functionBodies(named signature: String, in source: String) -> [Substring] {
        var bodies: [Substring] = []
        var search = source.startIndex
        while let found = source.range(of: signature, range: search..<source.endIndex) {
            guard let open = source[found.upperBound...].firstIndex(of: "{") else { break }
            var depth = 0
            var index = open
            while index < source.endIndex {
                if source[index] == "{" { depth += 1 }
                if source[index] == "}" { depth -= 1; if depth == 0 { break } }
                index = source.index(after: index)
            }
            bodies.append(source[source.index(after: open)..<min(index, source.endIndex)])
            search = index < source.endIndex ? source.index(after: index) : source.endIndex
        }
        return bodies
    }
}

/// The JSON Schema (draft 2020-12) validation keywords the field rules use, applied as a validator would:
/// lengths in code points, `pattern` unanchored (ECMA-262, here through ICU), `format` ipv4/ipv6 as RFC 2673 and
/// RFC 4291 text (`inet_pton`). `format: email` is not asserted (the rules that use it carry a stricter `pattern`).
enum SchemaKeywords {
    static func valid(_ value: JSONValue, _ schema: [String: JSONValue]) -> Bool {
        if case .null = value { return true }  // the rules never see null; the type decides it
        for (keyword, expected) in schema {
            switch keyword {
            case "minLength", "maxLength":
                guard case .string(let s) = value, case .number(let bound) = expected else { continue }
                let count = s.unicodeScalars.count
                if keyword == "minLength" ? count < Int(bound) : count > Int(bound) { return false }
            case "pattern":
                guard case .string(let s) = value, case .string(let pattern) = expected else { continue }
                if !matches(s, pattern) { return false }
            case "format":
                guard case .string(let s) = value, case .string(let format) = expected else { continue }
                if format == "ipv4" || format == "ipv6" {
                    var buffer = [UInt8](repeating: 0, count: 16)
                    let parsed = s.utf8.contains(0) ? 0 : inet_pton(format == "ipv4" ? AF_INET : AF_INET6, s, &buffer)
                    if parsed != 1 { return false }
                }
            case "enum":
                guard case .array(let allowed) = expected else { continue }
                if case .string = value, !allowed.contains(value) { return false }
            case "minimum", "maximum":
                guard case .number(let n) = value, case .number(let bound) = expected else { continue }
                if keyword == "minimum" ? n < bound : n > bound { return false }
            case "minItems", "maxItems":
                guard case .array(let items) = value, case .number(let bound) = expected else { continue }
                if keyword == "minItems" ? items.count < Int(bound) : items.count > Int(bound) { return false }
            case "maxProperties":
                guard case .object(let members) = value, case .number(let bound) = expected else { continue }
                if members.count > Int(bound) { return false }
            case "anyOf":
                guard case .array(let options) = expected else { continue }
                if !options.contains(where: { valid(value, $0.objectValue ?? [:]) }) { return false }
            default:
                continue
            }
        }
        return true
    }

    /// ECMA-262 semantics: `$` (without the multiline flag) is the end of the input, where ICU's, like Python's, also
    /// matches before a final newline; so a final `$` becomes `\z`.
    static func matches(_ string: String, _ pattern: String) -> Bool {
        let ecma = pattern.hasSuffix("$") && !pattern.hasSuffix("\\$") ? String(pattern.dropLast()) + "\\z" : pattern
        guard let regex = try? NSRegularExpression(pattern: ecma) else {
            Issue.record("pattern does not compile: \(pattern)")
            return false
        }
        return regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil
    }
}
