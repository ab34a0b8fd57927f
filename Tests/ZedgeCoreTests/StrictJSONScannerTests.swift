import Foundation
import Testing
import ZedgeCore

@Suite struct StrictJSONScannerTests {
    func scan(_ text: String, maxDepth: Int = StrictJSONScanner.defaultMaxDepth) -> StrictJSONScanner.Outcome {
        StrictJSONScanner.scan(Array(text.utf8), maxDepth: maxDepth)
    }

    func isMalformed(_ text: String) -> Bool {
        if case .malformed = scan(text) { true } else { false }
    }

    @Test func aRepeatedNameIsReportedByItsPath() {
        #expect(scan(#"{"name":"dup-a","name":"dup-b"}"#) == .duplicateKey(path: "name"))
        #expect(scan(#"{"spec":{"nics":[{"subnetId":"a"},{"subnetId":"b","subnetId":"c"}]}}"#)
            == .duplicateKey(path: "spec.nics[1].subnetId"))
        #expect(scan(#"[{"id":1},{"id":1,"id":2}]"#) == .duplicateKey(path: "[1].id"))
        #expect(scan(#"{"a":[[],[{"b":{"c":1,"c":2}}]]}"#) == .duplicateKey(path: "a[1][0].b.c"))
    }

    /// Found by fuzz-json: a repeated empty name had an empty path, which names no field.
    @Test func aRepeatedEmptyNameHasAPathThatShowsIt() {
        #expect(scan(#"{"":"dtpup","":"dtpup"}"#) == .duplicateKey(path: #""""#))
        #expect(scan(#"{"":{"a":1,"a":2}}"#) == .duplicateKey(path: #""".a"#))
        #expect(scan(#"{"a":[{"":1,"":2}]}"#) == .duplicateKey(path: #"a[0]."""#))
    }

    @Test func theFirstDuplicateInDocumentOrderIsTheOneReported() {
        #expect(scan(#"{"x":{"y":1,"y":2},"x":3}"#) == .duplicateKey(path: "x.y"))
        #expect(scan(#"{"a":1,"b":2,"a":3,"b":4}"#) == .duplicateKey(path: "a"))
    }

    @Test func namesAreComparedAfterUnescaping() {
        #expect(scan(#"{"n\u0061me":1,"name":2}"#) == .duplicateKey(path: "name"))
        #expect(scan(#"{"a\/b":1,"a/b":2}"#) == .duplicateKey(path: "a/b"))
        #expect(scan(#"{"\ud83d\ude00":1,"😀":2}"#) == .duplicateKey(path: "😀"))
        // Canonically equivalent names are one key to a Swift dictionary, so they are duplicates here too.
        #expect(scan(#"{"caf\u00e9":1,"cafe\u0301":2}"#) == .duplicateKey(path: "café"))
        // Names that differ only by case are different names.
        #expect(scan(#"{"Name":1,"name":2}"#) == .valid(members: 2))
        // A plain (ASCII, unescaped) name against one that is not: U+212A KELVIN SIGN is canonically "K", written
        // either way, before or after; and the plain names' byte comparison tells apart names of one length.
        #expect(scan(#"{"K":1,"\u212a":2}"#) == .duplicateKey(path: "\u{212A}"))
        #expect(scan("{\"\u{212A}\":1,\"K\":2}") == .duplicateKey(path: "K"))
        #expect(scan(#"{"ab":1,"ba":2,"abc":3,"":4}"#) == .valid(members: 4))
    }

    @Test func theSameNameInDifferentObjectsIsAllowed() {
        #expect(scan(#"{"a":{"id":1},"b":{"id":1},"c":[{"id":1},{"id":2}]}"#) == .valid(members: 7))
        #expect(scan(#"{"id":{"id":{"id":1}}}"#) == .valid(members: 3))
    }

    @Test func wideObjectsAreCheckedPastTheLinearSearch() {
        let names = (0..<200).map { "\"k\($0)\":\($0)" }
        #expect(scan("{" + names.joined(separator: ",") + "}") == .valid(members: 200))
        #expect(scan("{" + names.joined(separator: ",") + ",\"k150\":0}") == .duplicateKey(path: "k150"))
        #expect(scan("{" + names.joined(separator: ",") + ",\"k3\":0}") == .duplicateKey(path: "k3"))
        // A wide object earlier at the same depth leaves nothing behind for the next one.
        #expect(scan("[{" + names.joined(separator: ",") + "},{\"k150\":0,\"k3\":1}]") == .valid(members: 202))
    }

    @Test func acceptsEveryKindOfValue() {
        let text = #" {"n":null,"t":true,"f":false,"i":-0,"d":1.5e-3,"E":2E+10,"s":"a\"\\\/\b\f\n\r\t\u00e9","a":[1,[],{}],"o":{}} "#
        #expect(scan(text) == .valid(members: 9))
        #expect(scan("0") == .valid(members: 0))
        #expect(scan(#""x""#) == .valid(members: 0))
        #expect(scan("1e-999") == .valid(members: 0))  // underflows to 0, as Foundation reads it
        #expect(scan("123456789012345678901234567890") == .valid(members: 0))
        #expect(scan("[\"\u{7FF}\u{FFFD}\u{10FFFF}\"]") == .valid(members: 0))
    }

    @Test(arguments: [
        "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "{a:1}", "{'a':1}", "01", "-", "1.",
        ".5", "1e", "+1", "tru", "nul", "NaN", "Infinity", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
        "\"\\udc00\"", "1e999", "[-1E+400]", "\"\\ud800\\u0041\"", "\"a\u{01}b\"", "{} {}", "[]]", "// c\n{}", "\u{FEFF}{}",
    ])
    func refusesMalformedText(_ text: String) {
        #expect(isMalformed(text), "\(text.debugDescription) → \(scan(text))")
    }

    @Test func refusesInvalidUTF8() {
        for bytes: [UInt8] in [[0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF],
                               [0x80], [0xE2, 0x82]] {
            let text = [UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")]
            guard case .malformed = StrictJSONScanner.scan(text) else {
                Issue.record("accepted \(bytes)")
                continue
            }
        }
    }

    @Test func saysWhereTheTextGoesWrong() {
        #expect(scan(#"{"a":1 "b":2}"#) == .malformed(offset: 7, reason: "expected ',' or '}'"))
        #expect(scan(#"{"a" 1}"#) == .malformed(offset: 5, reason: "expected ':' after a member name"))
    }

    @Test func limitsTheDepth() {
        func nested(_ n: Int) -> String { String(repeating: "[", count: n) + String(repeating: "]", count: n) }
        #expect(scan(nested(64)) == .valid(members: 0))
        #expect(scan(nested(65)) == .tooDeep(offset: 64, maxDepth: 64))
        #expect(scan(#"{"a":{"b":1}}"#, maxDepth: 1) == .tooDeep(offset: 5, maxDepth: 1))
        // Far deeper than the limit: refused at the limit, without recursion.
        #expect(scan(String(repeating: "[", count: 1_000_000)) == .tooDeep(offset: 64, maxDepth: 64))
    }

    @Test func validMeansFoundationSeesEveryMember() throws {
        let text = #"{"a":{"x":1,"y":[{"x":2},{"x":3,"z":null}]},"b":"\u0062"}"#
        guard case .valid(let members) = scan(text) else { Issue.record("not valid"); return }
        func count(_ value: Any) -> Int {
            if let object = value as? [String: Any] { return object.count + object.values.map(count).reduce(0, +) }
            if let array = value as? [Any] { return array.map(count).reduce(0, +) }
            return 0
        }
        #expect(count(try JSONSerialization.jsonObject(with: Data(text.utf8))) == members)
    }

    /// The shape a request body's checks read: the top-level object's names, and the numbers in objects all the way
    /// down that are not whole or pass 9e15 (those in arrays, and whole ones however written, are not listed).
    @Test func theShapeNamesTopLevelMembersAndTheNumbersThatAreNotWhole() {
        let text = #"{"a": 1, "b": {"c": 2.5, "d": [1.5, {"e": 0.5}], "f": 1e2, "g": 9007199254740993, "h": -3.0, "k": -999999999999999}, "i": "x", "j": 123456789012345678}"#
        let (outcome, shape) = StrictJSONScanner.scanShape(Array(text.utf8))
        #expect(outcome == .valid(members: 11))
        #expect(shape.topLevelNames == ["a", "b", "i", "j"])
        #expect(shape.nonIntegralNumbers == [["b", "c"], ["b", "g"], ["j"]])
        for (other, names) in [("[1.5, {\"a\": 2.5}]", nil), ("2.5", nil), ("{}", [String]())] as [(String, [String]?)] {
            let (valid, shape) = StrictJSONScanner.scanShape(Array(other.utf8))
            guard case .valid = valid else { Issue.record("\(other): \(valid)"); continue }
            #expect(shape.topLevelNames == names, "\(other)")
            #expect(shape.nonIntegralNumbers.isEmpty, "\(other)")
        }
        // With a guide, only the numbers where it says integer are listed.
        let guide = ShapeGuide(closed: true, properties: [
            "a": ShapeGuide(closed: false, integer: true),
            "b": ShapeGuide(closed: true, properties: ["c": ShapeGuide(closed: false), "g": ShapeGuide(closed: false, integer: true)]),
            "j": ShapeGuide(closed: false),
        ])
        #expect(StrictJSONScanner.scanShape(Array(text.utf8), guide: guide).1.nonIntegralNumbers == [["b", "g"]])
        // The shape agrees with Foundation's reading of the same text.
        let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(Set(object?.keys.map { $0 } ?? []) == Set(shape.topLevelNames ?? []))
    }

    /// A guide's lookup by a name's bytes answers as its dictionary does, for ASCII names and when some name is not.
    @Test func aGuideFindsAMemberByItsBytesAsByItsName() {
        let leaf = ShapeGuide(closed: false)
        for properties in [["cpuUsagePercent": leaf, "cpu": leaf, "": leaf], ["caf\u{E9}": leaf, "K": leaf]] {
            let guide = ShapeGuide(closed: true, properties: properties)
            for name in ["cpuUsagePercent", "cpu", "", "cpuUsagePercenT", "cp", "caf\u{E9}", "K", "k", "x"] {
                let found = Array(name.utf8).withUnsafeBytes { guide.property(utf8: $0) }
                #expect((found != nil) == (properties[name] != nil), "\(name) in \(properties.keys.sorted())")
            }
        }
        // In a scan: a name written with an escape finds its member too, and an unknown one is reported.
        let guide = ShapeGuide(closed: true, properties: ["m": ShapeGuide(closed: true, properties: ["cpu": ShapeGuide(closed: false, captureKey: 0)])])
        let shape = StrictJSONScanner.scanShape(Array(#"{"m":{"c\u0070u":1,"cpv":2}}"#.utf8), guide: guide).1
        #expect(shape.captures == [.init(key: 0, path: "m.cpu", value: .scalar(.number(1)))])
        #expect(shape.unknownMembers == ["m.cpv"])
    }
}
