#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The JSON coding conventions shared by the coordinator, agent and CLI: ISO-8601 UTC dates (written with
/// milliseconds, read with or without fractional seconds) and sorted keys for stable output.
///
/// Factories rather than shared instances, because `JSONEncoder`/`JSONDecoder` are reference types.
public enum ZedgeJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(formatDate(date))
        }
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = parseDate(s) else {
                throw DecodingError.dataCorruptedError(
                    in: c, debugDescription: "must be an ISO-8601 date-time, e.g. 2025-01-31T12:00:00Z")
            }
            return date
        }
        return d
    }

    /// The styles, made once: a format style is a value, and making one took as long as formatting with it.
    static let fractionalStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    static let wholeSecondStyle = Date.ISO8601FormatStyle()

    /// `2025-01-31T12:00:00.123Z`.
    public static func formatDate(_ date: Date) -> String {
        fractionalStyle.format(date)
    }

    /// Parses ISO-8601 with or without fractional seconds (`Z` or a numeric offset).
    public static func parseDate(_ string: String) -> Date? {
        // What Zedge writes (`formatDate`), the common case: no case folding or offset arithmetic.
        if string.utf8.count == 24, string.utf8.last == UInt8(ascii: "Z"), let date = try? fractionalStyle.parse(string) {
            return date
        }
        // RFC 3339 §5.6 lets 'T' and 'Z' be lower case, and offsets reach ±23:59; Foundation's parser takes neither
        // (offsets only to ±18:00), so the text is upper-cased, and a larger offset is read as UTC and applied here.
        var text = string.uppercased()
        var offset: TimeInterval = 0
        let scalars = Array(text.unicodeScalars)
        if scalars.count > 6, scalars[scalars.count - 6] == "+" || scalars[scalars.count - 6] == "-", scalars[scalars.count - 3] == ":",
           let hours = Int(String(String.UnicodeScalarView(scalars[(scalars.count - 5)...(scalars.count - 4)]))),
           let minutes = Int(String(String.UnicodeScalarView(scalars[(scalars.count - 2)...]))), hours > 17, hours < 24, minutes < 60 {
            offset = TimeInterval(hours * 3600 + minutes * 60) * (scalars[scalars.count - 6] == "-" ? -1 : 1)
            text = String(String.UnicodeScalarView(scalars[..<(scalars.count - 6)])) + "Z"
        }
        let parsed = (try? fractionalStyle.parse(text)) ?? (try? wholeSecondStyle.parse(text))
        return parsed.map { $0.addingTimeInterval(-offset) }
    }
}
