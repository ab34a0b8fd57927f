import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct SchemaReflectorTests {
    @Test func reflectsPropertiesTypesAndRequiredness() throws {
        let schema = SchemaReflector.schema(for: User.self)
        guard case .object(let object) = schema, case .object(let properties)? = object["properties"],
              case .array(let required)? = object["required"] else {
            Issue.record("not an object schema: \(schema)")
            return
        }
        #expect(properties["id"] == ["type": "string", "format": "uuid"])
        #expect(properties["createdAt"] == ["type": "string", "format": "date-time"])
        #expect(properties["role"] == ["type": "string", "enum": ["ADMIN", "TENANT_ADMIN", "OPERATOR", "USER"]])
        #expect(required.contains("username") && !required.contains("tenantId"))
        #expect(properties["passwordHash"] == nil)
        #expect(SchemaReflector.propertyNames(of: Page<User>.self) == ["items", "nextCursor"])
    }
}
