import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// RFC 9457 problems: one title per kind of refusal, whichever code refused (a fresh user's trial found 422s titled
/// "Unprocessable Content" beside "Unprocessable request", and 400s "Bad Request" beside "Invalid request").
@Suite("Problem details")
struct ProblemTests {
    @Test func eachKindOfRefusalHasOneTitle() {
        let field = FieldError(field: "templateId", message: "no such template")
        let unprocessable = [
            Problem.invalid([field]), Problem(DomainError.invalid([field])), Problem(DomainError.badRequest("No such template.", errors: [field])),
            Problem(DomainError(.invalid, "The upload ended before its body did.")),
        ]
        #expect(unprocessable.allSatisfy { $0.status == .unprocessableContent && $0.title == "Unprocessable request" },
                "\(unprocessable.map(\.title))")
        let invalid = [Problem.malformed([field]), Problem.badRequest("Open this URL as a WebSocket.")]
        #expect(invalid.allSatisfy { $0.status == .badRequest && $0.title == "Invalid request" }, "\(invalid.map(\.title))")
        // A title a refusal names itself is kept; other kinds keep their status's reason phrase.
        #expect(Problem(DomainError(.invalid, "Over quota.", title: "Quota exceeded")).title == "Quota exceeded")
        #expect(Problem(DomainError.conflict("taken")).title == "Conflict")
    }
}
