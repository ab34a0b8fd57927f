import Testing
@testable import ZedgeCoordinator

@Suite struct SecretTokenTests {
    @Test func hashesAreLowercaseHexSHA256() {
        #expect(SecretToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // The UTF-8 of any text is hashed (Python: hashlib.sha256("zedge-é-🚀".encode()).hexdigest()).
        #expect(SecretToken.hash("zedge-é-🚀") == "811c2e47cb0fcdc19f49ae24630affa104c0eb259dd4c25744eb0daaff565344")
        #expect(SecretToken.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let token = SecretToken.generate(.agentCredential)
        #expect(token.hash.count == 64 && token.hash == SecretToken.hash(token.value))
    }
}
