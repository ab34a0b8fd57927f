import Foundation
import Testing
import ZedgeCore

/// `UUIDText` reads and writes what Foundation's `UUID(uuidString:)` and `uuidString` do for canonical text, and
/// refuses what is not canonical.
@Suite("UUID text")
struct UUIDTextTests {
    @Test func itAgreesWithFoundationOnManyUUIDs() {
        var rng = SystemRandomNumberGenerator()
        for n in 0..<5000 {
            let uuid = n % 2 == 0 ? UUID() : UUID.v7(now: Date(), using: &rng)
            let text = UUIDText.text(uuid)
            #expect(text == uuid.uuidString)
            #expect(UUIDText.parse(text) == uuid)
            #expect(UUIDText.parse(text.lowercased()) == uuid)
        }
        let edges = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                     UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        for uuid in edges {
            #expect(UUIDText.text(uuid) == uuid.uuidString)
            #expect(UUIDText.parse(uuid.uuidString) == uuid)
        }
        #expect(UUIDText.parse("01234567-89ab-CDEF-0123-456789AbCdEf") == UUID(uuidString: "01234567-89AB-CDEF-0123-456789ABCDEF"))
    }

    @Test func whatIsNotCanonicalIsRefused() {
        let good = "01234567-89AB-CDEF-0123-456789ABCDEF"
        #expect(UUIDText.parse(good) != nil)
        for bad in [
            "", "01234567-89AB-CDEF-0123-456789ABCDE", good + "0",
            "01234567089AB-CDEF-0123-456789ABCDEF", "01234567-89AB-CDEF-0123_456789ABCDEF",
            "0123456G-89AB-CDEF-0123-456789ABCDEF", "01234567-89AB-CDEF-0123-456789ABCDE\u{e9}",
            "0123456789ABCDEF0123456789ABCDEF",
        ] {
            #expect(UUIDText.parse(bad) == nil, "\(bad)")
            #expect(UUID(uuidString: bad) == nil, "Foundation refuses it too: \(bad)")
        }
        // Foundation's `sscanf` skips a leading space and reads these as 12345607-…; canonical text never has them,
        // and they are refused here.
        #expect(UUIDText.parse("{1234567-89AB-CDEF-0123-456789ABCDEF") == nil)
        #expect(UUIDText.parse(" 1234567-89AB-CDEF-0123-456789ABCDEF") == nil)
    }
}
