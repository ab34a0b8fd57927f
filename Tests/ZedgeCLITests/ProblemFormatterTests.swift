import Foundation
import Testing
@testable import ZedgeCLI

@Suite struct ProblemFormatterTests {
    @Test func detailAndStatusOnOneLine() {
        let problem = Problem(title: "Conflict", status: 409, detail: "The edge data center still has 1 resource pool.")
        #expect(ProblemFormatter.lines(problem) == ["error: The edge data center still has 1 resource pool. (HTTP 409)"])
    }

    @Test func fieldErrorsOnASecondLine() {
        let problem = Problem(status: 400, detail: "Validation failed.", errors: [
            .init(field: "name", message: "must be 1 to 64 characters"), .init(field: "role", message: "must be one of\nADMIN, USER"),
        ])
        #expect(ProblemFormatter.lines(problem) == [
            "error: Validation failed. (HTTP 400)",
            "  name: must be 1 to 64 characters; role: must be one of ADMIN, USER",
        ])
    }

    @Test func titleWhenThereIsNoDetailAndNewlinesFolded() {
        #expect(ProblemFormatter.lines(Problem(title: "Not Found", status: 404)) == ["error: Not Found (HTTP 404)"])
        #expect(ProblemFormatter.lines(Problem(status: 500, detail: "one\n  two\tthree")) == ["error: one two three (HTTP 500)"])
    }

    @Test func parsesProblemDocumentsAndFallsBackForOtherBodies() {
        let body = Data(#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"name is taken","errors":[{"field":"name","message":"taken"}]}"#.utf8)
        let problem = Problem.parse(status: 400, body: body)
        #expect(problem.detail == "name is taken" && problem.errors == [.init(field: "name", message: "taken")] && problem.status == 400)
        let html = Problem.parse(status: 502, body: Data("<html>Bad gateway</html>\nmore".utf8))
        #expect(html == Problem(status: 502, detail: "<html>Bad gateway</html>"))
        #expect(Problem.parse(status: 503, body: Data()) == Problem(status: 503))
        #expect(ProblemFormatter.lines(Problem.parse(status: 503, body: Data())) == ["error: the request failed (HTTP 503)"])
    }

    @Test func failedOperationsSayWhy() {
        let error = CLIError.operationFailed(id: "op-1", status: "FAILED", error: "vm.create: no capacity")
        #expect(error.description == "operation op-1 FAILED: vm.create: no capacity")
    }
}
