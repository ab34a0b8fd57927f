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
    }

    @Test func refusesWhatIsNotADateTime() {
        for text in ["2083-03-11", "2083-03-11T10:07:02", "2083-03-11T10:07:02+24:00", "2083-03-11T10:07:02+20:60", "yesterday", ""] {
            #expect(ZedgeJSON.parseDate(text) == nil, "\(text)")
        }
    }
}
