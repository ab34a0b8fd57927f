import Foundation
import Testing
import ZedgeCore

@Suite struct UUIDv7Tests {
    @Test func versionAndVariant() {
        for _ in 0..<100 {
            let id = UUID.v7()
            #expect(id.version == 7)
            #expect(id.uuid.8 & 0xC0 == 0x80)
            let s = id.uuidString.lowercased()
            #expect(Array(s)[14] == "7")
            #expect("89ab".contains(Array(s)[19]))
        }
        #expect(UUID().version == 4)
    }

    @Test func laterMillisecondsSortLater() {
        let base = Date(timeIntervalSince1970: 1_750_000_000)
        var previous = UUID.v7(now: base)
        for step in 1...200 {
            let next = UUID.v7(now: base.addingTimeInterval(Double(step) / 1000))
            #expect(previous.uuidString.lowercased() < next.uuidString.lowercased())
            let a = withUnsafeBytes(of: previous.uuid) { Array($0) }
            let b = withUnsafeBytes(of: next.uuid) { Array($0) }
            #expect(a.lexicographicallyPrecedes(b))
            previous = next
        }
    }

    @Test func timestampIsEmbedded() throws {
        let now = Date(timeIntervalSince1970: 1_750_000_000.123)
        let id = UUID.v7(now: now)
        let back = try #require(id.v7Date)
        #expect(abs(back.timeIntervalSince(now)) < 0.001)
        #expect(id.uuidString.lowercased().hasPrefix(String(format: "%08x", UInt32(1_750_000_000_123 >> 16))))
        #expect(Set((0..<1000).map { _ in UUID.v7(now: now) }).count == 1000)
        #expect(UUID.v7(now: Date(timeIntervalSince1970: -5)).version == 7)
    }
}
