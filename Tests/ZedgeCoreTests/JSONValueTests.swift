import Foundation
import Testing
import ZedgeCore
import ZedgeTestSupport

@Suite struct JSONValueTests {
    @Test func integersStayIntegers() throws {
        let v: JSONValue = ["a": 1, "b": 2.5, "c": -3, "d": [true, nil, "x"], "e": 1e20]
        let text = String(decoding: try ZedgeJSON.encoder().encode(v), as: UTF8.self)
        #expect(text.contains("\"a\":1,") && !text.contains("1.0"))
        #expect(text.contains("\"c\":-3"))
        #expect(text.contains("\"b\":2.5"))
        #expect(try ZedgeJSON.decoder().decode(JSONValue.self, from: Data(text.utf8)) == v)
    }

    @Test func decodesEveryKind() throws {
        let json = #"{"n":null,"t":true,"f":false,"i":7,"d":0.25,"s":"hi","a":[1,"2"],"o":{"k":[]}}"#
        let v = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        #expect(v["n"] == .null && v["n"]?.isNull == true)
        #expect(v["t"]?.boolValue == true && v["f"] == false)
        #expect(v["i"]?.intValue == 7 && v["d"]?.doubleValue == 0.25 && v["d"]?.intValue == nil)
        #expect(v["s"]?.stringValue == "hi")
        #expect(v["a"]?[1] == "2" && v["a"]?[5] == nil)
        #expect(v["o"]?["k"] == .array([]))
        #expect(v["missing"] == nil && v[0] == nil)
    }

    @Test func typedConversion() throws {
        let q = QuotaConfig(cpuCores: 4, gpuCount: 0)
        let v = try JSONValue(encoding: q)
        #expect(v == ["cpuCores": 4, "gpuCount": 0])
        #expect(try v.decode(as: QuotaConfig.self) == q)
        #expect(throws: DecodingError.self) { try JSONValue.string("x").decode(as: QuotaConfig.self) }
    }

    /// `init(parsing:)` (JSONSerialization) gives what decoding through `Decodable` gives, for every kind of value:
    /// booleans stay booleans and 0 and 1 numbers, at the top level too.
    @Test func parsingAgreesWithDecoding() throws {
        let texts = [
            #"{"n":null,"t":true,"f":false,"zero":0,"one":1,"i":-7,"d":0.25,"big":9007199254740993,"e":1e300,"s":"h\u00e9\"llo","a":[1,"2",[],{}],"o":{"k":[true,0]}}"#,
            "true", "false", "0", "1", "-1.5", "\"text\"", "null", "[]", "{}", "[[[[]]]]", "[1, true, 1.0, 0, false]",
        ]
        for text in texts {
            let parsed = try JSONValue(parsing: text)
            let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(parsed == decoded, "\(text)")
        }
        #expect(try JSONValue(parsing: "[true, 1, false, 0]") == [true, 1, false, 0])
        #expect(try JSONValue(parsing: "true") == .bool(true) && JSONValue(parsing: "1") == .number(1))
    }

    /// Random documents survive encode → parse and encode → decode alike (a seeded generator: the same documents
    /// every run).
    @Test func randomDocumentsParseAsTheyDecode() throws {
        var random = SplitMix64(state: 0x5EED)
        let pieces = ["a", "é", "\"", "\\", "/", "\n", "💡", "z", "0", "\u{0}"]
        func document(_ depth: Int) -> JSONValue {
            switch random.next() % (depth > 3 ? 5 : 7) {
            case 0: return .null
            case 1: return .bool(random.next() % 2 == 0)
            case 2: return .number(Double(Int64(bitPattern: random.next()) >> Int64(random.next() % 60)))
            case 3: return .number(Double(random.next() % 1_000_000) / 1024)
            case 4: return .string((0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined())
            case 5: return .array((0..<Int(random.next() % 5)).map { _ in document(depth + 1) })
            default: return .object(Dictionary((0..<Int(random.next() % 5)).map { _ in ("k\(random.next() % 100)", document(depth + 1)) }, uniquingKeysWith: { a, _ in a }))
            }
        }
        for _ in 0..<500 {
            let value = document(0)
            let data = try ZedgeJSON.encoder().encode(value)
            let parsed = try JSONValue(parsing: data)
            #expect(parsed == value, "\(String(decoding: data, as: UTF8.self))")
            #expect(try ZedgeJSON.decoder().decode(JSONValue.self, from: data) == parsed)
        }
    }

    /// Text that is not JSON, and a number beyond a Double's range (I-JSON), are errors, not values. (Like
    /// `JSONDecoder`, `JSONSerialization` lets a trailing comma pass: bodies from outside go through
    /// `StrictJSONScanner` first.)
    @Test func parsingRefusesWhatIsNotJSON() {
        for text in ["", "{", "{\"a\" 1}", "tru", "[01]", "[1] x", "1e999", "[-1e999]"] {
            #expect(throws: (any Error).self, "\(text)") { try JSONValue(parsing: text) }
        }
    }
}
