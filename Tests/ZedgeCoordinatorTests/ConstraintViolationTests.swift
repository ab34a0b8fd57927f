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
        #expect(ConstraintViolation.unique(columns: ["name"], resource: "edge data center").errors.first?.message
            == "An edge data center with this name already exists.")
        #expect(["image", "IP address", "API key", "operation"].allSatisfy { ConstraintViolation.article($0) == "An" })
        #expect(["user", "resource pool", "template"].allSatisfy { ConstraintViolation.article($0) == "A" })
    }

    @Test func cursorsRoundTripAndRejectGarbage() {
        let id = UUID.v7()
        #expect(Cursor.decode(Cursor.encode(id)) == id)
        #expect(Cursor.decode("zzz") == nil)
        #expect(Cursor.decode("") == nil)
    }
}
