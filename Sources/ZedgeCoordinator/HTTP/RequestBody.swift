import Foundation
import Hummingbird
import ZedgeCore

/// A JSON body a route accepts. Decoding is strict: duplicate names (at any depth), unknown fields (at any depth),
/// fields the caller may not set, wrong types, bad enum values, broken field rules and failed validation all become
/// a 400 that names the field.
///
/// A rule on one field (a name's pattern, a length, a range, a format) is declared in `fieldRules`, on the body or
/// on the nested type that holds the field, never checked by hand in `validate()`: the OpenAPI document is made
/// from the same declarations (`SchemaReflector`), and `FieldRuleDocumentTests` fails on a field check that is not
/// declared.
public protocol RequestBody: Decodable, Sendable, FieldRuleDeclaring {
    /// Fields of the resource that this body must not carry (system-made or immutable); sending one is a
    /// 400 saying so, rather than "unknown field".
    static var immutableFields: Set<String> { get }
    /// Optional fields that may be left out but not sent as `null` (a PATCH cannot empty a field its resource
    /// always has): `null` is a 400, and the document's type for them excludes null.
    static var nonNullFields: Set<String> { get }
    /// Checks that involve more than one field, or the present time, after decoding and after the field rules;
    /// each failure names its field.
    func validate() -> [FieldError]
}

extension RequestBody {
    public static var immutableFields: Set<String> { [] }
    public static var nonNullFields: Set<String> { [] }
    public static var fieldRules: [String: FieldRule] { [:] }
    public func validate() -> [FieldError] { [] }
}

/// A decoded body and the fields that were present in it (a PATCH changes only those; an explicit
/// `null` clears an optional field).
public struct DecodedBody<Body: RequestBody>: Sendable {
    public var value: Body
    public var presentFields: Set<String>

    public func has(_ field: String) -> Bool { presentFields.contains(field) }
}

/// Fields every resource has that no client ever sets.
public let systemFields: Set<String> = ["id", "createdAt", "updatedAt"]

extension Request {
    /// Reads and strictly decodes a JSON body (see `RequestBody`).
    public func decodeBody<Body: RequestBody>(
        _ type: Body.Type, context: ZedgeRequestContext
    ) async throws -> DecodedBody<Body> {
        if let contentType = headers[.contentType], !BodyDecoder.isJSON(mediaType: contentType) {
            // Several Content-Type fields read as one list ("a, b"): say that, not "a, b is not JSON".
            if headers[values: .contentType].count > 1 { throw BodyDecoder.repeatedContentType }
            throw BodyDecoder.unsupportedMediaType(contentType)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await self.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw Problem(.contentTooLarge, detail: "The request body is larger than \(context.maxUploadSize) bytes.")
        }
        return try BodyDecoder.decode(type, from: Data(buffer: buffer))
    }
}

/// The strict decoding behind `Request.decodeBody`, separate so it can be tested without HTTP.
public enum BodyDecoder {
    /// Whether a `Content-Type` value names JSON: `application/json` or a `+json` structured syntax suffix
    /// (RFC 6839 §3.1), in any case, with any parameters (`; charset=utf-8`). A body sent without a
    /// `Content-Type` is read as JSON too.
    ///
    /// Read byte by byte: this runs on every request with a body, and Foundation's trimming and lowercasing cost more
    /// than the rest of a heartbeat's checks (issue #14).
    public static func isJSON(mediaType value: String) -> Bool {
        var value = value
        return value.withUTF8 { utf8 in
            // The media type: before any parameters, without the spaces and tabs around it (RFC 9110 §5.6.3, §8.3.1).
            var end = utf8.firstIndex(of: UInt8(ascii: ";")) ?? utf8.endIndex
            var start = utf8.startIndex
            while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 { start += 1 }
            while end > start, utf8[end - 1] == 0x20 || utf8[end - 1] == 0x09 { end -= 1 }
            let type = UnsafeBufferPointer(rebasing: utf8[start..<end])
            let application = "application/".utf8, json = "json".utf8
            guard type.count >= application.count + json.count,
                  equalIgnoringASCIICase(type.prefix(application.count), application) else { return false }
            let subtype = type.dropFirst(application.count)
            return equalIgnoringASCIICase(subtype, json)
                || (subtype.count > json.count && equalIgnoringASCIICase(subtype.suffix(json.count + 1), "+json".utf8))
        }
    }

    /// Whether `bytes` spell `expected` (lowercase ASCII) in any ASCII case.
    private static func equalIgnoringASCIICase(_ bytes: some Collection<UInt8>, _ expected: String.UTF8View) -> Bool {
        bytes.count == expected.count
            && zip(bytes, expected).allSatisfy { ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }
    }

    /// 415 (RFC 9110 §15.5.16) for a JSON route sent another media type (`curl -d` sends
    /// `application/x-www-form-urlencoded`, a text editor's paste `text/plain`), naming the header.
    static func unsupportedMediaType(_ value: String) -> Problem {
        Problem(.unsupportedMediaType, detail: "This route takes a JSON body; send Content-Type: application/json.",
                errors: [FieldError(field: "Content-Type", message: "is \(value.prefix(100)), not application/json")])
    }

    /// 400 for a request with more than one `Content-Type` field: it is a singleton field (RFC 9110 §5.3, §8.3), and
    /// which of the values the body is in cannot be told.
    static var repeatedContentType: Problem {
        Problem.malformed(field: "Content-Type", "must be given once (the request has several Content-Type fields)")
    }

    public static func decode<Body: RequestBody>(_ type: Body.Type, from data: Data) throws -> DecodedBody<Body> {
        guard !data.isEmpty else { throw Problem.malformed(field: "body", "a JSON object is required") }
        let guide = BodyGuide.of(type)
        let shape = try checkStructure(data, guide: guide.root)
        guard let names = shape.topLevelNames else {
            throw Problem.malformed(field: "body", "must be a JSON object")
        }
        var errors: [FieldError] = []
        for key in names where !guide.topLevelNames.contains(key) {
            if Body.immutableFields.contains(key) || systemFields.contains(key) {
                errors.append(FieldError(field: key, message: "is read-only and cannot be set"))
            } else {
                errors.append(FieldError(field: key, message: "unknown field"))
            }
        }
        guard errors.isEmpty else { throw Problem.malformed(errors.sorted { $0.field < $1.field }) }
        // Foundation's decoder loses the field of a fractional number sent for an integer; find it here.
        errors = integerErrors(shape.nonIntegralNumbers)
        guard errors.isEmpty else { throw Problem.malformed(errors) }

        let value: Body
        do {
            value = try ZedgeJSON.decoder().decode(type, from: data)
        } catch let error as DecodingError {
            // A rule declared on the same field says more than the decoder (`FieldRule.oneOf` lists the values this
            // body may set, where the decoder lists all of the enum's).
            let decoding = FieldError(decoding: error)
            throw Problem.malformed([guide.errors(shape.captures).first { $0.field == decoding.field } ?? decoding])
        }
        // The body decoded, so its types are right; now unknown nested members and the declared field rules (both
        // found by the scan, `BodyGuide`), then the body's own cross-field checks.
        errors = shape.unknownMembers.map { FieldError(field: $0, message: "unknown field") }
        errors += guide.errors(shape.captures)
        guard errors.isEmpty else { throw Problem.malformed(errors) }
        let validation = value.validate()
        guard validation.isEmpty else { throw Problem.invalid(validation) }
        return DecodedBody(value: value, presentFields: Set(names))
    }

    /// Refuses, before anything is decoded, a body that is not strict JSON: a member name repeated in one object
    /// at any depth (400 naming its path, e.g. `spec.nics[1].subnetId`; RFC 7493 §2.3), malformed JSON (400 on
    /// `body` saying what and where) or nesting deeper than `StrictJSONScanner.defaultMaxDepth`. Returns the body's
    /// shape (`StrictJSONScanner.Shape`: with `guide`, unknown nested members and the values the rules need), read in
    /// the same pass.
    static func checkStructure(_ data: Data, guide: ShapeGuide? = nil) throws(Problem) -> StrictJSONScanner.Shape {
        let (outcome, shape) = StrictJSONScanner.scanShape(data, guide: guide)
        switch outcome {
        case .valid:
            return shape
        case .duplicateKey(let path):
            throw Problem.malformed(field: path, "is a duplicate name: each name may appear only once in an object")
        case .malformed(let offset, let reason):
            throw Problem.malformed(field: "body", "malformed JSON: \(reason) (at byte \(offset))")
        case .tooDeep(let offset, let maxDepth):
            throw Problem.malformed(field: "body", "nested deeper than \(maxDepth) levels (at byte \(offset))")
        }
    }

    /// "must be an integer" for each number that is not whole (or passes 9e15) where the schema says integer, by its
    /// path (`a.b`), in path order: the scan lists only those (`Shape.nonIntegralNumbers` with the body's guide, whose
    /// `ShapeGuide.integer` marks them), in objects all the way down.
    static func integerErrors(_ numbers: [[String]]) -> [FieldError] {
        numbers.sorted { $0.lexicographicallyPrecedes($1) }
            .map { FieldError(field: $0.joined(separator: "."), message: "must be an integer") }
    }
}
