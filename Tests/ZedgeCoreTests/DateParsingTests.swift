import Foundation
import Testing
import ZedgeCore

/// `ZedgeJSON.parseDate` reads every RFC 3339 date-time (§5.6), as JSON Schema's `format: date-time` admits them.
@Suite struct DateParsingTests {
    @Test func readsTheWholeOfRFC3339() throws {
        let utc = try #require(ZedgeJSON.parseDate("2083-03-11T10:07:02Z"))
        #expect(ZedgeJSON.parseDate("2083-03-11t10:07:02z") == utc)  // lower-case T and Z
        #expect(ZedgeJSON.parseDate("2083-03-11T12:07:02+02:00") == utc)
        #expect(ZedgeJSON.parseDate("2083-03-12T06:07:02+20:00") == utc)  // past Foundation's ±18:00
        #expect(ZedgeJSON.parseDate("2083-03-10T10:08:02-23:59") == utc)
        #expect(ZedgeJSON.parseDate("2083-03-11T10:07:02.250Z") == utc.addingTimeInterval(0.25))
        #expect(ZedgeJSON.parseDate("2083-03-12T06:07:02.5+20:00") == utc.addingTimeInterval(0.5))
        #expect(ZedgeJSON.parseDate("2083-03-11t10:07:02.250z") == utc.addingTimeInterval(0.25))  // 24 bytes, lower case
    }

    /// What Zedge writes reads back to the millisecond (the parser's fast path for its own format).
    @Test func readsBackWhatItWrites() throws {
        let date = Date(timeIntervalSince1970: 3_571_553_222.375)
        let text = ZedgeJSON.formatDate(date)
        #expect(text == "2083-03-06T10:07:02.375Z")
        let read = try #require(ZedgeJSON.parseDate(text))
        #expect(abs(read.timeIntervalSince(date)) < 0.000_5)
    }

    @Test func refusesWhatIsNotADateTime() {
        for text in ["2083-03-11", "2083-03-11T10:07:02", "2083-03-11T10:07:02+24:00", "2083-03-11T10:07:02+20:60", "yesterday", ""] {
            #expect(ZedgeJSON.parseDate(text) == nil, "\(text)")
        }
    }
}
