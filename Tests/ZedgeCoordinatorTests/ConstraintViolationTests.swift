import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct ConstraintViolationTests {
    @Test func uniqueViolationsNameTheLastColumn() {
        let problem = ConstraintViolation.unique(columns: ["tenant_id", "name"], resource: "user group")
        #expect(problem.kind == .conflict)
        #expect(problem.errors == [FieldError(field: "name", message: "A user group with this name already exists within this tenant.")])
        #expect(ConstraintViolation.unique(columns: ["email"], resource: "user").errors.map(\.field) == ["email"])
    }

    @Test func cursorsRoundTripAndRejectGarbage() {
        let id = UUID.v7()
        #expect(Cursor.decode(Cursor.encode(id)) == id)
        #expect(Cursor.decode("zzz") == nil)
        #expect(Cursor.decode("") == nil)
    }
}
