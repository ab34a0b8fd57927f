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

@Suite struct UUIDv7Tests {
    @Test func versionAndVariant() {
        for _ in 0..<100 {
            let id = UUID.v7()
            #expect(id.version == 7)
            #expect(id.uuid.8 & 0xC0 == 0x80)
            let s = id.uuidString.lowercased()
            #expect(Array(s)[14] == "7")
            #expect("89ab".contains(Array(s)[19]))
        }
        #expect(UUID().version == 4)
    }

    @Test func laterMillisecondsSortLater() {
        let base = Date(timeIntervalSince1970: 1_750_000_000)
        var previous = UUID.v7(now: base)
        for step in 1...200 {
            let next = UUID.v7(now: base.addingTimeInterval(Double(step) / 1000))
            #expect(previous.uuidString.lowercased() < next.uuidString.lowercased())
            let a = withUnsafeBytes(of: previous.uuid) { Array($0) }
            let b = withUnsafeBytes(of: next.uuid) { Array($0) }
            #expect(a.lexicographicallyPrecedes(b))
            previous = next
        }
    }

    @Test func timestampIsEmbedded() throws {
        let now = Date(timeIntervalSince1970: 1_750_000_000.123)
        let id = UUID.v7(now: now)
        let back = try #require(id.v7Date)
        #expect(abs(back.timeIntervalSince(now)) < 0.001)
        #expect(id.uuidString.lowercased().hasPrefix(String(format: "%08x", UInt32(1_750_000_000_123 >> 16))))
        #expect(Set((0..<1000).map { _ in UUID.v7(now: now) }).count == 1000)
        #expect(UUID.v7(now: Date(timeIntervalSince1970: -5)).version == 7)
    }
}

@Suite struct OperationTests {
    @Test func progressIsWeighted() {
        func step(_ w: Int, _ s: StepStatus) -> OperationStep { OperationStep(name: "s", weight: w, status: s) }
        #expect(OperationStep.progress(of: []) == 100)
        #expect(OperationStep.progress(of: [step(0, .pending)]) == 100)
        #expect(OperationStep.progress(of: [step(1, .pending), step(3, .pending)]) == 0)
        #expect(OperationStep.progress(of: [step(1, .succeeded), step(3, .running)]) == 25)
        #expect(OperationStep.progress(of: [step(1, .skipped), step(3, .succeeded)]) == 100)
        #expect(OperationStep.progress(of: [step(2, .failed), step(2, .succeeded)]) == 50)
        #expect(OperationStep.progress(of: [step(1, .succeeded), step(-5, .pending), step(1, .pending)]) == 50)
        let p = OperationStep.progress(of: [step(1, .succeeded), step(1, .pending), step(1, .pending)])
        #expect(abs(p - 100.0 / 3) < 1e-9)
    }

    @Test func terminalStatuses() {
        #expect(OperationStatus.allCases.filter(\.isTerminal) == [.succeeded, .failed, .cancelled])
        #expect(TaskStatus.allCases.filter(\.isTerminal) == [.succeeded, .failed, .cancelled])
    }

    @Test func operationCarriesRequestSnapshot() throws {
        let op = Operation(kind: "instance.create",
                           steps: [OperationStep(name: "place"), OperationStep(name: "create-vm", weight: 5)],
                           request: ["name": "web-1", "timeoutS": 3600])
        let typed: ZedgeOperation = op  // a bare `Operation` here would clash with Foundation.Operation
        #expect(typed.progress == 0 && OperationStep.progress(of: typed.steps) == 0)
        let json = try #require(JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(op)) as? [String: Any])
        #expect(json["status"] as? String == "QUEUED")
        let steps = try #require(json["steps"] as? [[String: Any]])
        #expect(steps.count == 2 && steps[1]["weight"] as? Int == 5 && steps[0]["status"] as? String == "PENDING")
        #expect((json["request"] as? [String: Any])?["timeoutS"] as? Int == 3600)
    }

    @Test func quotaOmitsUnsetLimits() throws {
        let text = String(decoding: try ZedgeJSON.encoder().encode(QuotaConfig(cpuCores: 4)), as: UTF8.self)
        #expect(text == #"{"cpuCores":4}"#)
        #expect(QuotaConfig.unlimited == QuotaConfig())
    }
}
