import Testing
@testable import ZedgeAgent

/// The RFB handshake as QEMU's VNC server sends it (RFC 6143 §7.1-7.2), in any chunks.
@Suite struct RFBAuthenticationWatchTests {
    static let version38 = Array("RFB 003.008\n".utf8)
    static let challenge = [UInt8](repeating: 0xAB, count: 16)

    @Test func vncAuthenticationThatSucceedsIsSeenWhateverTheChunks() {
        let server = Self.version38 + [1, 2] + Self.challenge + [0, 0, 0, 0] + Array("framebuffer".utf8)
        for chunk in [1, 3, 7, 64] {
            var watch = RFBAuthenticationWatch()
            var seen: [RFBAuthenticationWatch.Outcome] = []
            for start in stride(from: 0, to: server.count, by: chunk) {
                seen.append(watch.feed(server[start..<min(server.count, start + chunk)]))
            }
            #expect(seen.last == .authenticated, "chunks of \(chunk)")
            #expect(seen.filter { $0 == .authenticated }.count >= 1 && !seen.contains(.other))
        }
    }

    @Test func refusalsOtherTypesAndNonRFBAreNotAuthentication() {
        var refused = RFBAuthenticationWatch()
        #expect(refused.feed(Self.version38 + [1, 2] + Self.challenge + [0, 0, 0, 1]) == .other)
        var noneOnly = RFBAuthenticationWatch()
        #expect(noneOnly.feed(Self.version38 + [1, 1]) == .other)
        var failed = RFBAuthenticationWatch()  // zero types: the server refuses the connection
        #expect(failed.feed(Self.version38 + [0]) == .other)
        var http = RFBAuthenticationWatch()
        #expect(http.feed(Array("HTTP/1.1 400 Bad Request\r\n".utf8)) == .other)
        var pending = RFBAuthenticationWatch()
        #expect(pending.feed(Self.version38 + [2, 1, 2] + Self.challenge) == .pending)  // no result yet
        #expect(pending.feed([0, 0, 0, 0]) == .authenticated)
        #expect(pending.feed([9, 9]) == .authenticated)  // what follows changes nothing
    }

    @Test func version33SendsOneSecurityType() {
        var watch = RFBAuthenticationWatch()
        #expect(watch.feed(Array("RFB 003.003\n".utf8) + [0, 0, 0, 2] + Self.challenge + [0, 0, 0, 0]) == .authenticated)
        var none = RFBAuthenticationWatch()
        #expect(none.feed(Array("RFB 003.003\n".utf8) + [0, 0, 0, 1]) == .other)
    }
}
