import Foundation
import Synchronization
import Testing
import Yams
import ZedgeCore
@testable import ZedgeCLI

/// Collects what a printer writes.
final class Captured: Sendable {
    private let text = Mutex("")
    var value: String { text.withLock { $0 } }
    func append(_ chunk: String) { text.withLock { $0 += chunk } }
    func printer(_ format: OutputFormat) -> OutputPrinter { OutputPrinter(format: format) { chunk in self.text.withLock { $0 += chunk } } }
}

@Suite struct OutputTests {
    static let tenant: JSONValue = [
        "id": "0193a1b2-0000-7000-8000-000000000001", "name": "acme", "status": "ACTIVE", "vlanId": 101,
        "quotaConfig": ["cpuCores": 64], "description": nil,
    ]

    @Test func tableAlignsColumnsUnderUpperCaseHeaders() {
        let text = TableRenderer.render(headers: ["id", "name", "status"], rows: [["1", "acme", "ACTIVE"], ["22", "b", ""]])
        #expect(text == """
        ID   NAME   STATUS
        1    acme   ACTIVE
        22   b

        """)
    }

    @Test func listAsTableAndWide() throws {
        let captured = Captured()
        try captured.printer(.table).list([Self.tenant], columns: Resources.tenants.columns, wideColumns: Resources.tenants.wideColumns)
        #expect(captured.value == "ID                                     NAME   STATUS\n0193a1b2-0000-7000-8000-000000000001   acme   ACTIVE\n")
        let wide = Captured()
        try wide.printer(.wide).list([Self.tenant], columns: Resources.tenants.columns, wideColumns: Resources.tenants.wideColumns)
        #expect(wide.value.hasPrefix("ID                                     NAME   STATUS   VLAN   DESCRIPTION   CREATED\n"))
        #expect(wide.value.contains("ACTIVE   101"))
    }

    @Test func showListsEveryFieldColumnsFirst() throws {
        let captured = Captured()
        try captured.printer(.table).object(Self.tenant, columns: Resources.tenants.columns)
        #expect(captured.value == """
        id            0193a1b2-0000-7000-8000-000000000001
        name          acme
        status        ACTIVE
        description
        quotaConfig   {"cpuCores":64}
        vlanId        101

        """)
    }

    @Test func jsonIsTheAPIsBytes() throws {
        let raw = Data(#"{"name":"acme",  "id":"x","n":1.50}"#.utf8)
        let captured = Captured()
        try captured.printer(.json).object(try JSONDecoder().decode(JSONValue.self, from: raw), raw: raw)
        #expect(captured.value == String(decoding: raw, as: UTF8.self) + "\n")
        let page = Data(#"{"items":[{"id":"a"}],"nextCursor":"c1"}"#.utf8)
        let list = Captured()
        try list.printer(.json).list([["id": "a"]], raw: page, columns: [], wideColumns: [])
        #expect(list.value == String(decoding: page, as: UTF8.self) + "\n")
        // --all: the items of every page in one document, nextCursor null.
        let merged = Captured()
        try merged.printer(.json).list([["id": "a"], ["id": "b"]], columns: [], wideColumns: [])
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(merged.value.utf8))
        #expect(decoded == ["items": [["id": "a"], ["id": "b"]], "nextCursor": nil])
    }

    @Test func yamlReadsBackAsTheSameJSON() throws {
        let value: JSONValue = [
            "name": "true", "count": 3, "ratio": 0.5, "flag": false, "none": nil, "when": "2026-11-30T12:00:00Z",
            "digits": "0123", "empty": "", "list": ["a: b", "- c", 7], "nested": ["k": "v"],
        ]
        let yaml = try YAMLRenderer.render(value)
        #expect(yaml.contains("name: \"true\""))
        #expect(yaml.contains("count: 3\n"))
        let loaded = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(loaded["name"] as? String == "true")
        #expect(loaded["digits"] as? String == "0123")
        #expect(loaded["when"] as? String == "2026-11-30T12:00:00Z")
        #expect(loaded["empty"] as? String == "")
        #expect(loaded["count"] as? Int == 3)
        #expect(loaded["flag"] as? Bool == false)
        #expect(loaded["none"] is NSNull)
        #expect((loaded["list"] as? [Any])?.first as? String == "a: b")
        #expect((loaded["nested"] as? [String: Any])?["k"] as? String == "v")
    }

    @Test func cellsFormatValues() throws {
        #expect(ValueFormatter.cell(.number(3)) == "3")
        #expect(ValueFormatter.cell(.number(2.5)) == "2.5")
        #expect(ValueFormatter.cell(.number(18.166207099502447)) == "18.17")
        #expect(ValueFormatter.cell(.number(0.999)) == "1")
        #expect(try YAMLRenderer.render(["p": .number(18.166207099502447)]) == "p: 18.166207099502447\n")
        #expect(ValueFormatter.cell(nil) == "" && ValueFormatter.cell(.null) == "")
        #expect(ValueFormatter.cell(.string("a\nb")) == "a\\nb")
        #expect(ValueFormatter.cell(["b": 1, "a": [true]]) == #"{"a":[true],"b":1}"#)
        #expect(Column("STATUS", "operation", "status").cell(["operation": ["status": "RUNNING"]]) == "RUNNING")
    }

    @Test func operationProgressLine() {
        let operation: JSONValue = [
            "id": "op", "kind": "instance.create", "status": "RUNNING", "progress": 42.9,
            "steps": [["name": "quota", "status": "SUCCEEDED"], ["name": "vm.create", "status": "RUNNING"], ["name": "x", "status": "PENDING"]],
        ]
        #expect(OperationWaiter.describe(operation) == "instance.create: vm.create 42% RUNNING")
        #expect(OperationWaiter.operation(in: ["instance": ["id": "i"], "operation": operation]) == operation)
        #expect(OperationWaiter.operation(in: operation) == operation)
        #expect(OperationWaiter.operation(in: ["id": "t", "name": "acme"]) == nil)
        let done: JSONValue = ["kind": "instance.stop", "status": "SUCCEEDED", "progress": 100, "steps": [["name": "vm.stop", "status": "SUCCEEDED"]]]
        #expect(OperationWaiter.describe(done) == "instance.stop: vm.stop 100% SUCCEEDED")
    }

    @Test func plainProgressPrintsEachChangeOnce() {
        let captured = Captured()
        let reporter = ProgressReporter(title: "t", terminal: false) { captured.append($0) }
        reporter.update("a 10% RUNNING", fraction: 0.1)
        reporter.update("a 10% RUNNING", fraction: 0.1)
        reporter.update("b 50% RUNNING", fraction: 0.5)
        reporter.finish("b 100% SUCCEEDED", succeeded: true)
        #expect(captured.value == "a 10% RUNNING\nb 50% RUNNING\nb 100% SUCCEEDED\n")
    }

    @Test func uploadProgressText() {
        #expect(FileUpload.bytes(512) == "512 B")
        #expect(FileUpload.bytes(1536) == "1.5 KiB")
        #expect(FileUpload.describe(sent: 12 << 20, total: 100 << 20, elapsed: .seconds(4)) == "uploading 12.0 MiB / 100.0 MiB (12%, 3.0 MiB/s)")
    }
}
