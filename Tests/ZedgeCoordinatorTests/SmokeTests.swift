import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct SmokeTests {
    @Test(arguments: TestEngine.all)
    func adminLogsInOverHTTPS(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { coordinator in
            #expect(coordinator.started.scheme == "https")
            let token = try await coordinator.adminToken()
            let me = try await coordinator.client.get("/api/v1/auth/me", token: token)
            #expect(me.status == 200)
            #expect(try me.decode(User.self).username == "admin")
        }
    }
}
