import Testing
@testable import ZedgeCoordinator

@Suite struct AuthenticationMiddlewareTests {
    @Test(arguments: [
        ("Bearer zak_abc", "zak_abc"), ("bearer zak_abc", "zak_abc"), ("BEARER zak_abc", "zak_abc"), ("Bearer   zak_abc", "zak_abc"),
        ("Bearer a b", "a b"), ("Bearer", nil), ("Bearer ", nil), ("Bearer    ", nil), ("Basic dXNlcjpwYXNz", nil), ("Bearerx y", nil),
        ("Bear zak", nil), ("", nil), (" Bearer x", nil), ("Bearer " + String(repeating: "a", count: 4095), String(repeating: "a", count: 4095)),
        ("Bearer " + String(repeating: "a", count: 4096), nil), ("Bearer é", "é"),
    ] as [(String, String?)])
    func theBearerTokenIsWhatFollowsTheScheme(_ header: String, _ token: String?) {
        #expect(AuthenticationMiddleware.bearerToken(header) == token)
    }
}
