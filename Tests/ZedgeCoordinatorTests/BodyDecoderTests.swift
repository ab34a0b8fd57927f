import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct BodyDecoderTests {
    struct Body: RequestBody {
        var name: String
        var size: Int?
        var role: UserRole?
        var quota: QuotaConfig?
        static var immutableFields: Set<String> { ["owner"] }
        func validate() -> [FieldError] { name == "bad" ? [FieldError(field: "name", message: "is bad")] : [] }
    }

    func fields(_ json: String) -> [String] {
        do {
            _ = try BodyDecoder.decode(Body.self, from: Data(json.utf8))
            return []
        } catch let problem as Problem {
            // The body's own cross-field check (`validate`) is a 422; everything the document states, a 400.
            #expect(problem.status == (problem.errors.first?.message == "is bad" ? .unprocessableContent : .badRequest))
            return problem.errors.map(\.field)
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test(arguments: [
        ("application/json", true), ("application/json; charset=utf-8", true), ("Application/JSON", true),
        (" application/json ;charset=utf-8", true), ("\tapplication/json\t", true), ("application/merge-patch+json", true),
        ("application/problem+JSON; q=1", true), ("application/+json", true), ("application/jsonx", false),
        ("application/x-json-seq", false), ("text/json", false), ("application/", false), ("application/json+xml", false),
        ("application/x-www-form-urlencoded", false), ("text/plain", false), ("", false), (";application/json", false),
        ("applicatio/json", false), ("application/jso", false), ("application/json/x", false), ("ａpplication/json", false),
    ])
    func aMediaTypeIsJSONWhenItsTypeOrSuffixSaysSo(_ value: String, _ expected: Bool) {
        #expect(BodyDecoder.isJSON(mediaType: value) == expected)
    }

    @Test func acceptsAndReportsPresentFields() throws {
        let decoded = try BodyDecoder.decode(Body.self, from: Data(#"{"name":"ok","size":null}"#.utf8))
        #expect(decoded.value.name == "ok")
        #expect(decoded.presentFields == ["name", "size"])
        #expect(decoded.has("size") && !decoded.has("role"))
    }

    @Test func namesTheOffendingField() {
        #expect(fields(#"{"name":"ok","extra":1}"#) == ["extra"])
        #expect(fields(#"{"name":"ok","owner":"x"}"#) == ["owner"])
        #expect(fields(#"{"name":"ok","id":"x","createdAt":"x"}"#) == ["createdAt", "id"])
        #expect(fields(#"{"size":1}"#) == ["name"])
        #expect(fields(#"{"name":null}"#) == ["name"])
        #expect(fields(#"{"name":"ok","size":"ten"}"#) == ["size"])
        #expect(fields(#"{"name":"ok","size":1.5}"#) == ["size"])
        #expect(fields(#"{"name":"ok","size":9007199254740993}"#) == ["size"])  // past 9e15: not every integer is a double
        #expect(fields(#"{"name":"ok","size":1e2}"#) == [] && fields(#"{"name":"ok","size":-4.0}"#) == [])  // whole
        #expect(fields(#"{"name":"ok","quota":{"memoryGb":1.5,"cpuCores":2.5}}"#) == ["quota.cpuCores", "quota.memoryGb"])
        #expect(fields(#"{"name":"ok","role":"GOD"}"#) == ["role"])
        #expect(fields(#"{"name":"ok","quota":{"cpuCores":"x"}}"#) == ["quota.cpuCores"])
        #expect(fields(#"{"name":"bad"}"#) == ["name"])
        #expect(fields(#"{"name":"#) == ["body"])
        #expect(fields("[]") == ["body"])
        #expect(fields("") == ["body"])
    }

    @Test func aRepeatedNameIsRefusedByItsPathBeforeAnythingElse() throws {
        #expect(fields(#"{"name":"a","name":"b"}"#) == ["name"])
        #expect(fields(#"{"n\u0061me":"a","name":"b"}"#) == ["name"])
        #expect(fields(#"{"name":"ok","quota":{"cpuCores":1,"cpuCores":2}}"#) == ["quota.cpuCores"])
        // Reported ahead of what decoding would say about the same body (an unknown field, a wrong type).
        #expect(fields(#"{"name":"ok","extra":1,"extra":2}"#) == ["extra"])
        #expect(fields(#"{"name":1,"size":"x","size":"y"}"#) == ["size"])
        // The same name in two objects is fine.
        let decoded = try BodyDecoder.decode(Body.self, from: Data(#"{"name":"ok","quota":{"cpuCores":1},"size":2}"#.utf8))
        #expect(decoded.value.quota?.cpuCores == 1 && decoded.value.size == 2)
    }

    @Test func malformedJSONSaysWhatAndWhere() {
        do {
            _ = try BodyDecoder.decode(Body.self, from: Data(#"{"name":"ok",}"#.utf8))
            Issue.record("decoded a trailing comma")
        } catch let problem as Problem {
            #expect(problem.errors.map(\.field) == ["body"])
            #expect(problem.errors.first?.message == "malformed JSON: expected a member name (a string) (at byte 13)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(fields(String(repeating: "[", count: 100)) == ["body"])
        #expect(fields("\u{FEFF}{\"name\":\"ok\"}") == ["body"])
    }

    @Test func enumErrorsListTheAllowedValues() throws {
        do {
            _ = try BodyDecoder.decode(Body.self, from: Data(#"{"name":"ok","role":"GOD"}"#.utf8))
            Issue.record("decoded a bad enum")
        } catch let problem as Problem {
            #expect(problem.errors.first?.message == "must be one of ADMIN, TENANT_ADMIN, OPERATOR, USER")
        }
    }

    /// A body that may set only some of an enum's values (`FieldRule.oneOf`).
    struct StatusBody: RequestBody {
        var status: ComputeMachineStatus?
        static var fieldRules: [String: FieldRule] {
            ["status": .oneOf(ComputeMachineStatus.allCases.filter { $0 != .offline }, message: "OFFLINE is set by the coordinator")]
        }
    }

    /// A value the enum does not have lists only the values the body may set (the others would be refused next), and
    /// one it has but the body may not set gets the rule's reason.
    @Test func aRestrictedEnumListsOnlyWhatTheBodyMaySet() throws {
        func refusal(_ json: String) -> FieldError? {
            do {
                _ = try BodyDecoder.decode(StatusBody.self, from: Data(json.utf8))
                return nil
            } catch let problem as Problem {
                #expect(problem.status == .badRequest)
                return problem.errors.first
            } catch {
                Issue.record("unexpected error \(error)")
                return nil
            }
        }
        let allowed = ComputeMachineStatus.allCases.filter { $0 != .offline }.map(\.rawValue)
        #expect(refusal(#"{"status":"GONE"}"#) == FieldError(field: "status", message: "must be one of " + allowed.joined(separator: ", ")))
        #expect(refusal(#"{"status":"OFFLINE"}"#) == FieldError(field: "status", message: "OFFLINE is set by the coordinator"))
        #expect(refusal(#"{"status":"MAINTENANCE"}"#) == nil)
    }
}
