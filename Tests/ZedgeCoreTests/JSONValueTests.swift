import Foundation
import Testing
import ZedgeCore

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
}
