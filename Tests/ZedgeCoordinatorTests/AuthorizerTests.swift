import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct AuthorizerTests {
    let authorizer = Authorizer(grants: Dictionary(uniqueKeysWithValues: UserRole.allCases.map { ($0, PermissionCatalog.defaultGrants(for: $0)) }))
    let tenant = UUID.v7()
    func principal(_ role: UserRole, tenant: UUID? = nil) -> Principal {
        Principal(userId: .v7(), username: "x", role: role, tenantId: tenant, credential: .accessToken)
    }

    @Test func functionLevelGrants() {
        #expect(authorizer.allows(principal(.admin), .tenant, .delete))
        #expect(!authorizer.allows(principal(.tenantAdmin), .tenant, .create))
        #expect(authorizer.allows(principal(.operator), .server, .manage))
        #expect(!authorizer.allows(principal(.operator), .instance, .create))
        #expect(authorizer.allows(principal(.user), .instance, .create))
        #expect(!authorizer.allows(principal(.user), .edgeDc, .update))
        #expect(throws: DomainError.self) { try authorizer.require(principal(.user), .tenant, .create) }
    }

    @Test func objectLevelReach() {
        let owner = principal(.user, tenant: tenant)
        #expect(authorizer.canReach(owner, tenantId: tenant, ownerId: owner.userId))
        #expect(!authorizer.canReach(owner, tenantId: tenant, ownerId: UUID.v7()))
        #expect(!authorizer.canReach(owner, tenantId: UUID.v7(), ownerId: owner.userId))
        #expect(authorizer.canReach(principal(.tenantAdmin, tenant: tenant), tenantId: tenant, ownerId: UUID.v7()))
        #expect(!authorizer.canReach(principal(.tenantAdmin, tenant: tenant), tenantId: UUID.v7(), ownerId: nil))
        #expect(authorizer.canReach(principal(.admin), tenantId: UUID.v7(), ownerId: nil))
    }
}
