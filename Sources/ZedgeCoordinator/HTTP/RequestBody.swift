import Foundation
import Hummingbird
import ZedgeCore

/// A JSON body a route accepts. Decoding is strict: duplicate names (at any depth), unknown fields, fields the caller may not set,
/// wrong types, bad enum values and failed validation all become a 400 that names the field.
public protocol RequestBody: Decodable, Sendable {
    /// Fields of the resource that this body must not carry (system-made or immutable); sending one is a
    /// 400 saying so, rather than "unknown field".
    static var immutableFields: Set<String> { get }
    /// Semantic checks after decoding; each failure names its field.
    func validate() -> [FieldError]
}

extension RequestBody {
    public static var immutableFields: Set<String> { [] }
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
    public static func decode<Body: RequestBody>(_ type: Body.Type, from data: Data) throws -> DecodedBody<Body> {
        guard !data.isEmpty else { throw Problem.invalid(field: "body", "a JSON object is required") }
        let shape = try checkStructure(data)
        guard let names = shape.topLevelNames else {
            throw Problem.invalid(field: "body", "must be a JSON object")
        }
        let schema = SchemaReflector.schema(for: type)
        let allowed = SchemaReflector.propertyNames(of: type)
        var errors: [FieldError] = []
        for key in names.sorted() where !allowed.contains(key) {
            if Body.immutableFields.contains(key) || systemFields.contains(key) {
                errors.append(FieldError(field: key, message: "is read-only and cannot be set"))
            } else {
                errors.append(FieldError(field: key, message: "unknown field"))
            }
        }
        guard errors.isEmpty else { throw Problem.invalid(errors) }
        // Foundation's decoder loses the field of a fractional number sent for an integer; find it here.
        errors = integerErrors(shape.nonIntegralNumbers, schema: schema)
        guard errors.isEmpty else { throw Problem.invalid(errors) }

        let value: Body
        do {
            value = try ZedgeJSON.decoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw Problem.invalid([FieldError(decoding: error)])
        }
        let validation = value.validate()
        guard validation.isEmpty else { throw Problem.invalid(validation) }
        return DecodedBody(value: value, presentFields: Set(names))
    }

    /// Refuses, before anything is decoded, a body that is not strict JSON: a member name repeated in one object
    /// at any depth (400 naming its path, e.g. `spec.nics[1].subnetId`; RFC 7493 §2.3), malformed JSON (400 on
    /// `body` saying what and where) or nesting deeper than `StrictJSONScanner.defaultMaxDepth`. Returns the body's
    /// shape (`StrictJSONScanner.Shape`), read in the same pass.
    static func checkStructure(_ data: Data) throws(Problem) -> StrictJSONScanner.Shape {
        let (outcome, shape) = StrictJSONScanner.scanShape(data)
        switch outcome {
        case .valid:
            return shape
        case .duplicateKey(let path):
            throw Problem.invalid(field: path, "is a duplicate name: each name may appear only once in an object")
        case .malformed(let offset, let reason):
            throw Problem.invalid(field: "body", "malformed JSON: \(reason) (at byte \(offset))")
        case .tooDeep(let offset, let maxDepth):
            throw Problem.invalid(field: "body", "nested deeper than \(maxDepth) levels (at byte \(offset))")
        }
    }

    /// "must be an integer" for each number that is not whole (or passes 9e15) where the schema says integer, by its
    /// path (`a.b`), in path order. The numbers are those in objects all the way down (`Shape.nonIntegralNumbers`).
    static func integerErrors(_ numbers: [[String]], schema: JSONValue) -> [FieldError] {
        func isInteger(_ schema: JSONValue?) -> Bool {
            guard case .object(let schema)? = schema else { return false }
            return schema["type"] == "integer"
                || schema["type"].map { if case .array(let types) = $0 { types.contains("integer") } else { false } } == true
        }
        var fields: [[String]] = []
        for path in numbers {
            var node: JSONValue? = schema
            for name in path {
                guard case .object(let object)? = node, case .object(let properties)? = object["properties"] else {
                    node = nil
                    break
                }
                node = properties[name]
            }
            if isInteger(node) { fields.append(path) }
        }
        return fields.sorted { $0.lexicographicallyPrecedes($1) }
            .map { FieldError(field: $0.joined(separator: "."), message: "must be an integer") }
    }
}
