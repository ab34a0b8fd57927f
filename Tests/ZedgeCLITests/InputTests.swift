import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCLI

@Suite struct InputTests {
    @Test func setValuesAreJSONWhenTheyParse() throws {
        let body = try BodyBuilder.build(file: nil, fields: ["name": "typed"], sets: [
            "vlanId=101", "enabled=true", "note=hello world", "tags=[\"a\"]", "quotaConfig.cpuCores=8", "quotaConfig.memoryGb=16",
            "code=\"123\"", "empty=", "name=overridden",
        ])
        #expect(body == [
            "vlanId": 101, "enabled": true, "note": "hello world", "tags": ["a"], "quotaConfig": ["cpuCores": 8, "memoryGb": 16],
            "code": "123", "empty": "", "name": "overridden",
        ])
    }

    @Test func fileFirstThenFlagsThenSet() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zedgectl-body-\(UUID().uuidString).json").path
        try Data(#"{"name":"from-file","description":"kept","vlanId":1}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let body = try BodyBuilder.build(file: path, fields: ["name": "from-flag"], sets: ["vlanId=2"])
        #expect(body == ["name": "from-flag", "description": "kept", "vlanId": 2])
        let stdin = try BodyBuilder.build(file: "-", fields: [:], sets: [], readStdin: { Data(#"{"a":1}"#.utf8) })
        #expect(stdin == ["a": 1])
    }

    /// A body file that cannot be read says why, in the system's words.
    @Test func anUnreadableFileSaysWhy() throws {
        func message(_ file: String) -> String {
            do {
                _ = try BodyBuilder.build(file: file, fields: [:], sets: [])
                return "accepted"
            } catch { return "\(error)" }
        }
        let missing = "/nonexistent-\(UUID().uuidString).json"
        #expect(message(missing) == "cannot read \(missing): No such file or directory")
        let directory = FileManager.default.temporaryDirectory.path
        #expect(message(directory) == "cannot read \(directory): Is a directory")
    }

    @Test func badInputIsAClearError() {
        #expect(throws: CLIError.self) { try BodyBuilder.parseAssignment("novalue") }
        #expect(throws: CLIError.self) { try BodyBuilder.parseAssignment("=1") }
        #expect(throws: CLIError.self) { try BodyBuilder.parseAssignment("a..b=1") }
        #expect(throws: CLIError.self) { try BodyBuilder.build(file: "-", fields: [:], sets: [], readStdin: { Data("[1]".utf8) }) }
        // The two ways a body file is wrong are told apart: JSON that does not parse says where, and JSON that is not
        // an object says so.
        func message(_ text: String) -> String {
            do {
                _ = try BodyBuilder.build(file: "-", fields: [:], sets: [], readStdin: { Data(text.utf8) })
                return "accepted"
            } catch { return "\(error)" }
        }
        // As strict as the coordinator: what it refuses is refused here, saying where (Foundation accepted all three).
        #expect(message(#"{"name": }"#) == "standard input is not valid JSON: expected a value (at byte 9)", "\(message(#"{"name": }"#))")
        #expect(message(#"{"name": "a",}"#).hasPrefix("standard input is not valid JSON: "), "\(message(#"{"name": "a",}"#))")
        #expect(message(#"{"name": "a", "name": "b"}"#) == "standard input has the member name twice", "\(message(#"{"name": "a", "name": "b"}"#))")
        #expect(message("[1]").contains("standard input is JSON but not an object"), "\(message("[1]"))")
        #expect(message(#"{"a": 1}"#) == "accepted")
        #expect(throws: CLIError.self) { try BodyBuilder.build(file: "/nonexistent/zedge.json", fields: [:], sets: []) }
    }

    /// `--wait` and `--rental-mode` in help only where they mean something, and explained.
    @Test func helpOffersWaitOnlyWhereACreateStartsAnOperation() {
        #expect(CreateCommand<Instances>.helpMessage().contains("--wait"))
        #expect(CreateCommand<Disks>.helpMessage().contains("--wait"))
        #expect(!CreateCommand<Users>.helpMessage().contains("--wait"))
        #expect(!CreateCommand<Tenants>.helpMessage().contains("--wait"))
        let instance = CreateCommand<Instances>.helpMessage(columns: 400)
        #expect(instance.contains("--rental-mode <rental-mode>") && instance.contains("EXCLUSIVE or SHARED"), "\(instance)")
    }

    @Test func registerLineIsShellSafe() {
        let line = TechnicianCommand.registerLine(kind: "cloud-box", url: "https://10.0.0.1:8443", token: "zet_abc-DEF_1",
                                                  caHash: "sha256:" + String(repeating: "ab", count: 32), extra: ["--serial-number", "CB 7's"])
        #expect(line == "zedge-agent register --kind cloud-box --coordinator https://10.0.0.1:8443 --token zet_abc-DEF_1 --ca-hash sha256:"
            + String(repeating: "ab", count: 32) + " --serial-number 'CB 7'\\''s'")
    }

    @Test func queryStringsArePercentEncoded() {
        #expect(APIClient.queryString([]) == "")
        #expect(APIClient.queryString([("action", "tenant.create"), ("q", "a&b=c d")]) == "?action=tenant.create&q=a%26b%3Dc%20d")
        #expect(APIClient.segment("v1/x y") == "v1%2Fx%20y")
    }
}
