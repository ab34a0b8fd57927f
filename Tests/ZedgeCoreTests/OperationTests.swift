import Foundation
import Testing
import ZedgeCore

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
