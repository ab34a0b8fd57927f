import Testing
@testable import ZedgeCoordinator

@Suite struct SecretTokenTests {
    @Test func hashesAreLowercaseHexSHA256() {
        #expect(SecretToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = SecretToken.generate(.agentCredential)
        #expect(token.hash.count == 64 && token.hash == SecretToken.hash(token.value))
    }
}
